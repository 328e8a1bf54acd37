import Foundation
import Hashing
import POCareConfig
import Yams

/// Which sites' records one instance of `pocare-control run` takes (control.yaml `ingest:`), so
/// several instances can split the network by site: `shard: k/n` (instance k of n, by a stable
/// hash of the site id) and/or `sites: [a, b]` (an explicit list).
///
/// Every message is checked against the share on the MQTT thread before anything is written or
/// asked: a site another instance takes is dropped there. Where the sites are known (a list, or
/// the registered `sites:` in the shard), the instance subscribes to those sites' topics only;
/// with a shard and no known list, the broker still sends it every site's messages.
public struct IngestShare: Sendable, Equatable, CustomStringConvertible {
    /// Instance `index` of `count`.
    public struct Shard: Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var count: Int

        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }

        public func contains(_ site: String) -> Bool { IngestShare.shard(of: site, count: count) == index }
        public var description: String { "\(index)/\(count)" }
    }

    public private(set) var shard: Shard?
    /// `ingest.sites`, when listed.
    public private(set) var listed: Set<String>?
    /// The sites this instance takes, when they are known: the list, or the registered sites
    /// that fall in the shard. Nil: not known (every site, or every site of the shard).
    public private(set) var known: Set<String>?

    /// No `ingest:` section: every site's records.
    public static let everySite = IngestShare(shard: nil, listed: nil, registered: nil)

    public init(shard: Shard?, listed: Set<String>?, registered: Set<String>?) {
        self.shard = shard
        self.listed = listed
        if let listed {
            known = listed
        } else if let shard, let registered {
            known = registered.filter(shard.contains)
        } else {
            known = nil
        }
    }

    public var isEverySite: Bool { shard == nil && listed == nil }

    /// Whether this instance takes `site`'s messages.
    public func takes(_ site: String) -> Bool {
        if let listed { return listed.contains(site) }
        return shard?.contains(site) ?? true
    }

    /// The shard (1...count) a site id falls in: the first 8 bytes of the SHA-256 digest of the
    /// id's UTF-8 bytes, read as a big-endian unsigned integer, modulo `count`, plus one. Stable
    /// across processes, machines and releases (unlike Swift's seeded `hashValue`), and what an
    /// operator computes with `printf %s SITE | sha256sum` (the first 16 hex digits, mod n, + 1).
    public static func shard(of site: String, count: Int) -> Int {
        precondition(count >= 1, "a shard count is at least 1")
        let first16 = SHA256.hex(site).prefix(16)
        return Int(UInt64(first16, radix: 16)! % UInt64(count)) + 1
    }

    /// The topic filters to subscribe to: `{root}/{site}/#` per known site, else every site's.
    public func subscriptions(root: String, sharedGroup: String?) -> [String] {
        let patterns = known.map { $0.sorted().map { "\(root)/\($0)/#" } } ?? ["\(root)/+/#"]
        return patterns.map { pattern in sharedGroup.map { "$share/\($0)/\(pattern)" } ?? pattern }
    }

    /// For the default client id, so two instances on one host differ by their share.
    public var clientIdSuffix: String? {
        if isEverySite { return nil }
        var parts: [String] = []
        if let shard { parts.append("shard-\(shard.index)-of-\(shard.count)") }
        if let listed { parts.append("sites-\(SHA256.hex(listed.sorted().joined(separator: "\n")).prefix(8))") }
        return parts.joined(separator: "-")
    }

    public var description: String {
        if isEverySite { return "every site" }
        var parts: [String] = []
        if let shard { parts.append("shard \(shard)") }
        if let known { parts.append("sites \(known.isEmpty ? "(none)" : known.sorted().joined(separator: ", "))") }
        return parts.joined(separator: ", ")
    }

    static let keys = ["shard", "sites", "max_sequence_jump"]

    /// Reads control.yaml's `ingest:` section; `registered` is the `sites:` register, when there is one.
    static func parse(_ root: MappingReader, registered: Set<String>?) -> IngestShare {
        guard let reader = root.mappingReader("ingest") else {
            if root.has("ingest"), root.node("ingest") == nil { root.collector.error(root.fieldPath("ingest"), "name a shard or sites (or leave ingest out)") }
            return .everySite
        }
        reader.rejectUnknownKeys(allowed: keys)
        let shard = parseShard(reader)
        let listed = parseSites(reader, registered: registered)
        if !reader.has("shard") && !reader.has("sites") && !reader.has("max_sequence_jump") {
            root.collector.error(root.fieldPath("ingest"), "name a shard (shard: k/n) or sites (sites: [a, b]), or leave ingest out")
        }
        if let shard, let listed {
            for site in listed.sorted() where !shard.contains(site) {
                root.collector.error(reader.fieldPath("sites"), "'\(site)' falls in shard \(Self.shard(of: site, count: shard.count))/\(shard.count), not in this instance's \(shard)")
            }
        }
        let share = IngestShare(shard: shard, listed: listed, registered: registered)
        if let shard, listed == nil, share.known?.isEmpty == true {
            root.collector.error(reader.fieldPath("shard"), "no registered site falls in shard \(shard): this instance would take nothing")
        }
        return share
    }

    private static func parseShard(_ reader: MappingReader) -> Shard? {
        guard let text = reader.string("shard") else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0].trimmingCharacters(in: .whitespaces)),
            let count = Int(parts[1].trimmingCharacters(in: .whitespaces))
        else {
            reader.collector.error(reader.fieldPath("shard"), "expected k/n (instance k of n, such as 1/2), got '\(text)'")
            return nil
        }
        guard (1...1024).contains(count) else {
            reader.collector.error(reader.fieldPath("shard"), "the number of shards \(count) is out of range 1...1024")
            return nil
        }
        guard (1...count).contains(index) else {
            reader.collector.error(reader.fieldPath("shard"), "instance \(index) is out of range 1...\(count)")
            return nil
        }
        return Shard(index: index, count: count)
    }

    private static func parseSites(_ reader: MappingReader, registered: Set<String>?) -> Set<String>? {
        guard let nodes = reader.sequence("sites") else { return nil }
        if nodes.isEmpty { reader.collector.error(reader.fieldPath("sites"), "name at least one site (or leave sites out)") }
        var sites = Set<String>()
        for (index, node) in nodes.enumerated() {
            let path = "\(reader.fieldPath("sites"))[\(index)]"
            guard case .scalar(let scalar) = node, !scalar.string.isEmpty, !scalar.string.contains(where: { "/+#".contains($0) }) else {
                reader.collector.error(path, "expected a site id (no '/', '+' or '#')")
                continue
            }
            let site = scalar.string
            if let registered, !registered.contains(site) {
                let closest = registered.sorted().min { editDistance($0, site) < editDistance($1, site) }
                let hint = closest.flatMap { editDistance($0, site) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
                reader.collector.error(path, "'\(site)' is not a registered site (sites:)\(hint)")
                continue
            }
            if !sites.insert(site).inserted { reader.collector.error(path, "'\(site)' is listed twice") }
        }
        return sites
    }
}
