/// Walks one stream's records in sequence order, recomputing each hash from the record's own
/// fields and checking each link, and names the first break: what `pocare-control verify`
/// prints from the database and `pocarectl verify --export` from an exported batch.
public struct ChainWalk: Sendable {
    public let stream: String
    public private(set) var records = 0
    public private(set) var notRecomputable = 0
    public private(set) var lastSeq: Int64?
    public private(set) var lastHash: String?
    /// The first break, if any.
    public private(set) var firstBreak: String?
    /// Hashes of the records walked, for matching checkpoint heads.
    public private(set) var hashes: [Int64: String] = [:]

    public init(stream: String) { self.stream = stream }

    /// One record: its number, the hash it carries, the previous hash it names, and the verdict of recomputing it.
    public mutating func take(seq: Int64, hash: String?, previousHash: String?, verdict: WireRecordHash.Verdict) {
        records += 1
        firstSeq = firstSeq ?? seq
        defer {
            lastSeq = seq
            lastHash = hash
            if let hash { hashes[seq] = hash }
        }
        guard firstBreak == nil else { return }
        if let last = lastSeq, seq != last + 1 {
            firstBreak = seq <= last ? "record \(seq) comes again after \(last)" : "records \(last + 1)...\(seq - 1) are missing"
            return
        }
        switch verdict {
        case .mismatch(let computed, let claimed):
            firstBreak = "record \(seq) was changed: its content hashes to \(computed.prefix(16)), it carries \(claimed.prefix(16))"
            return
        case .notRecomputable, .unchained: notRecomputable += 1
        case .verified: break
        }
        if lastSeq != nil, let previousHash, let lastHash, previousHash != lastHash {
            firstBreak = "record \(seq) names previous hash \(previousHash.prefix(16)), record \(seq - 1) has \(lastHash.prefix(16))"
        }
    }

    /// Records `from...to` archived with their month (`pocare-control archive`): not here to
    /// recompute, but the range must follow the last record and link to it through the hashes kept
    /// at its ends, and the next record must link to its last hash.
    public mutating func passArchived(from: Int64, to: Int64, firstPreviousHash: String?, lastHash archivedLast: String?) {
        archived += Int(to - from + 1)
        firstSeq = firstSeq ?? from
        defer {
            lastSeq = to
            lastHash = archivedLast
        }
        guard firstBreak == nil else { return }
        if let last = lastSeq, from != last + 1 {
            firstBreak = from <= last ? "archived records \(from)...\(to) overlap record \(last)" : "records \(last + 1)...\(from - 1) are missing"
        } else if lastSeq != nil, let firstPreviousHash, let lastHash, firstPreviousHash != lastHash {
            firstBreak = "archived record \(from) names previous hash \(firstPreviousHash.prefix(16)), record \(from - 1) has \(lastHash.prefix(16))"
        }
    }

    public private(set) var archived = 0
    private var firstSeq: Int64?

    public var summary: String {
        let first = archived > 0 ? firstSeq : lastSeq.map { Int64(records) > $0 ? 1 : $0 - Int64(records) + 1 }
        let range = lastSeq.map { "\(first ?? 1)...\($0)" } ?? "none"
        let unrecomputed = notRecomputable > 0 ? ", \(notRecomputable) not recomputable" : ""
        let archivedText = archived > 0 ? ", \(archived) archived" : ""
        return "\(stream): \(records) records (\(range))\(archivedText)\(unrecomputed): " + (firstBreak.map { "BROKEN: \($0)" } ?? "intact")
    }
}
