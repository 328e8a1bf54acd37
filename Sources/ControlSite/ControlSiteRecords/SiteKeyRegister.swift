import Foundation
import Hashing
import POCareConfig
import Yams

/// Which sites the Control Site knows, and each site's public keys with the times they were in
/// force (docs/control-site.md, "Site identities"). Until the POC Master File holds them, QA
/// registers them in control.yaml under `sites:`; every reader goes through this one type, so
/// moving the register into the Master File changes only where it is loaded from.
///
/// Without a `sites:` section the register is open: every site the broker admits is taken, and
/// its records can be checked but not attributed (`run` warns at start).
public struct SiteKeyRegister: Sendable {
    public struct RegisteredKey: Sendable, Hashable {
        public var key: Ed25519.PublicKey
        /// In force from (inclusive) and until (exclusive); nil: no bound. Nanoseconds since 1970, UTC.
        public var validFrom: Int64?
        public var retiredFrom: Int64?

        public init(key: Ed25519.PublicKey, validFrom: Int64? = nil, retiredFrom: Int64? = nil) {
            self.key = key
            self.validFrom = validFrom
            self.retiredFrom = retiredFrom
        }

        public func isInForce(at nanoseconds: Int64) -> Bool {
            (validFrom.map { nanoseconds >= $0 } ?? true) && (retiredFrom.map { nanoseconds < $0 } ?? true)
        }
    }

    /// nil: no register (open).
    public private(set) var sites: [String: [RegisteredKey]]?

    public init(sites: [String: [RegisteredKey]]?) { self.sites = sites }

    public static let open = SiteKeyRegister(sites: nil)

    public var isEnforced: Bool { sites != nil }

    /// Whether the site's statuses must be signed: it has keys registered.
    public func hasKeys(_ site: String) -> Bool { !(sites?[site] ?? []).isEmpty }

    /// Whether records of `site` are taken as a site's.
    public func isRegistered(_ site: String) -> Bool { sites.map { $0[site] != nil } ?? true }

    /// The verdict on a signature by the key named `keyText` at `nanoseconds`.
    public enum KeyVerdict: Sendable, Equatable {
        case registered(Ed25519.PublicKey)
        case notRegistered(String)
    }

    /// The site's registered key named `keyText`, if it was in force at `nanoseconds`.
    public func key(of site: String, named keyText: String, at nanoseconds: Int64) -> KeyVerdict {
        guard let keys = sites?[site] else { return .notRegistered("site '\(site)' has no registered key") }
        guard let named = try? Ed25519.PublicKey(text: keyText) else {  // an unreadable key is no key of the site's
            return .notRegistered("'\(keyText.prefix(80))' is not an Ed25519 public key")
        }
        let matching = keys.filter { $0.key == named }
        guard !matching.isEmpty else { return .notRegistered("\(named) is not a key registered for '\(site)'") }
        guard matching.contains(where: { $0.isInForce(at: nanoseconds) }) else {
            return .notRegistered("\(named) was not in force for '\(site)' at \(Self.format(nanoseconds))")
        }
        return .registered(named)
    }

    static func format(_ nanoseconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }

    /// Reads control.yaml's `sites:`: a list of site ids (registered, without keys), or per site
    /// `keys:`, a list of `{key, valid_from, retired_from}`.
    static func parse(_ root: MappingReader) -> SiteKeyRegister {
        guard let node = root.node("sites") else { return .open }
        if case .sequence = node { return SiteKeyRegister(sites: siteIds(root)) }
        guard let sitesReader = root.mappingReader("sites") else { return .open }
        var sites: [String: [RegisteredKey]] = [:]
        for (name, _) in sitesReader.mapping {
            guard let site = name.scalar?.string, let siteReader = sitesReader.mappingReader(site) else { continue }
            if site.isEmpty || site.contains("/") { root.collector.error(sitesReader.fieldPath(site), "expected a site id") }
            siteReader.rejectUnknownKeys(allowed: ["keys"])
            var keys: [RegisteredKey] = []
            for (index, node) in (siteReader.sequence("keys", required: true) ?? []).enumerated() {
                guard let entry = MappingReader(node, path: "\(siteReader.fieldPath("keys"))[\(index)]", collector: root.collector) else { continue }
                entry.rejectUnknownKeys(allowed: ["key", "valid_from", "retired_from"])
                guard let text = entry.string("key", required: true) else { continue }
                guard let key = try? Ed25519.PublicKey(text: text) else {  // reported here, with its place
                    root.collector.error(entry.fieldPath("key"), "'\(text.prefix(80))' is not ed25519: and 64 hex digits")
                    continue
                }
                keys.append(RegisteredKey(key: key, validFrom: time(entry, "valid_from"), retiredFrom: time(entry, "retired_from")))
            }
            sites[site] = keys
        }
        if sites.isEmpty { root.collector.error(root.fieldPath("sites"), "name at least one site (or leave sites out to take every site's)") }
        return SiteKeyRegister(sites: sites)
    }

    /// `sites: [site-a, site-b]`: registered sites whose keys are not registered yet.
    private static func siteIds(_ root: MappingReader) -> [String: [RegisteredKey]] {
        let nodes = root.sequence("sites") ?? []
        var sites: [String: [RegisteredKey]] = [:]
        for (index, node) in nodes.enumerated() {
            guard case .scalar(let scalar) = node, !scalar.string.isEmpty, !scalar.string.contains("/") else {
                root.collector.error("\(root.fieldPath("sites"))[\(index)]", "expected a site id (the sites whose messages are taken)")
                continue
            }
            sites[scalar.string] = []
        }
        if nodes.isEmpty { root.collector.error(root.fieldPath("sites"), "name at least one site (or leave sites out to take every site's)") }
        return sites
    }

    private static func time(_ entry: MappingReader, _ field: String) -> Int64? {
        guard let text = entry.string(field) else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: text) else {
            entry.collector.error(entry.fieldPath(field), "'\(text)' is not a UTC time like 2026-01-31T00:00:00Z")
            return nil
        }
        return Int64(date.timeIntervalSince1970 * 1e9)
    }
}
