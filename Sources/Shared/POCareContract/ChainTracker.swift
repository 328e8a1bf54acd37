/// The Control Site side of the hash chain: per stream, whether each record's `previous_hash`
/// equals the `hash` of the record before it, and per site, which store (epoch) the records
/// come from. Records may arrive out of order (a resend after a reconnect), so a link is checked
/// as soon as both of its ends have arrived, whichever comes first.
public struct ChainTracker: Sendable {
    /// One record as the wire carries it.
    public struct Link: Sendable, Hashable {
        public var seq: Int64
        public var previousHash: String?
        public var hash: String?
        public init(seq: Int64, previousHash: String?, hash: String?) {
            self.seq = seq
            self.previousHash = previousHash
            self.hash = hash
        }
    }

    public enum Finding: Sendable, Hashable, CustomStringConvertible {
        /// Record `seq`'s previous hash is not the hash record `seq - 1` arrived with: a record
        /// was altered, removed or inserted at the site (or on the way).
        case broken(stream: String, seq: Int64, expected: String, found: String)
        /// A duplicate of `seq` arrived with another hash than the first copy.
        case conflictingDuplicate(stream: String, seq: Int64, first: String, again: String)
        /// The site's records now come from another store: its sequence numbers started again.
        case newEpoch(site: String, previous: String, current: String)
        /// A record of a store the site replaced earlier; it is not compared with the current one.
        case formerEpoch(site: String, stream: String, epoch: String)

        public var description: String {
            switch self {
            case .broken(let stream, let seq, let expected, let found):
                "chain broken \(stream) at \(seq): previous_hash \(found.prefix(12)) is not the hash of \(seq - 1) (\(expected.prefix(12)))"
            case .conflictingDuplicate(let stream, let seq, let first, let again):
                "chain broken \(stream) at \(seq): a copy arrived with hash \(again.prefix(12)), the first had \(first.prefix(12))"
            case .newEpoch(let site, let previous, let current):
                "new epoch \(site): store \(current) replaced \(previous); sequence numbers start again"
            case .formerEpoch(let site, let stream, let epoch):
                "record of \(site) \(stream) from the replaced store \(epoch) ignored"
            }
        }
    }

    private struct StreamChain {
        var hashes: [Int64: String] = [:]
        var previous: [Int64: String] = [:]
    }

    private var chains: [String: StreamChain] = [:]
    private var epochs: [String: String] = [:]
    private var formerEpochs: [String: Set<String>] = [:]
    /// Breaks found per stream, kept across epochs, for the summary at exit.
    public private(set) var breaks: [String: Int] = [:]

    public init() {}

    /// The epoch a site's records currently come from.
    public func epoch(of site: String) -> String? { epochs[site] }

    /// Notes the epoch a site announces (in its birth or a record). A change is a new store:
    /// the chains of that site are forgotten and `.newEpoch` is returned, so the caller can
    /// start its sequence tracking of the site's streams again too.
    public mutating func observe(site: String, epoch: String?) -> Finding? {
        guard let epoch, !epoch.isEmpty else { return nil }
        guard let known = epochs[site] else {
            epochs[site] = epoch
            return nil
        }
        guard known != epoch else { return nil }
        if formerEpochs[site]?.contains(epoch) == true { return nil }
        formerEpochs[site, default: []].insert(known)
        epochs[site] = epoch
        chains = chains.filter { !$0.key.hasPrefix(site + "/") }
        return .newEpoch(site: site, previous: known, current: epoch)
    }

    /// Whether `epoch` is one the site has since replaced.
    public func isFormer(site: String, epoch: String?) -> Bool {
        guard let epoch else { return false }
        return formerEpochs[site]?.contains(epoch) == true
    }

    /// Checks the links of one message's records (in sequence order) against what arrived before.
    /// `stream` is the key the caller tracks the stream by (site and stream name).
    public mutating func observe(stream: String, records: [Link]) -> [Finding] {
        var chain = chains[stream] ?? StreamChain()
        var findings: [Finding] = []
        for record in records {
            if let hash = record.hash {
                if let first = chain.hashes[record.seq] {
                    if first != hash { findings.append(.conflictingDuplicate(stream: stream, seq: record.seq, first: first, again: hash)) }
                    continue
                }
                chain.hashes[record.seq] = hash
                if let next = chain.previous[record.seq + 1], next != hash {
                    findings.append(.broken(stream: stream, seq: record.seq + 1, expected: hash, found: next))
                }
            }
            if let previous = record.previousHash {
                chain.previous[record.seq] = previous
                if let before = chain.hashes[record.seq - 1], before != previous {
                    findings.append(.broken(stream: stream, seq: record.seq, expected: before, found: previous))
                }
            }
        }
        if !findings.isEmpty { breaks[stream, default: 0] += findings.count }
        chains[stream] = chain
        return findings
    }
}
