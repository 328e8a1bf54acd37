import Foundation
import Hashing

/// The audit trail as a reviewer reads it: the Control Site's own entries and every site's
/// (as ingested), filtered by site, user, action and time, each chain walked: the Control
/// Site's from its stored hashes, each site's by recomputing every entry's SHA-256 from the
/// fields it carries, the way the site's store computes it.
public enum AuditReview {
    public struct Filter: Sendable, Equatable {
        /// A site id, or `control` for the Control Site's own entries; nil for all.
        public var site: String?
        public var user: String?
        /// An action or its beginning (`deviation.` matches every deviation action).
        public var action: String?
        /// Seconds since 1970, UTC.
        public var since: Double?
        public var until: Double?
        public var limit = 1000
        public init(site: String? = nil, user: String? = nil, action: String? = nil, since: Double? = nil, until: Double? = nil) {
            self.site = site
            self.user = user
            self.action = action
            self.since = since
            self.until = until
        }
    }

    public struct Entry: Sendable, Codable, Equatable {
        /// `control` for the Control Site, else the site.
        public var source: String
        public var seq: Int64
        public var time: String
        public var user: String
        public var action: String
        public var target: String
        public var reason: String?
        public var oldValue: String?
        public var newValue: String?
    }

    public struct Chain: Sendable, Codable, Equatable {
        public var source: String
        public var epoch: String
        public var entries: Int
        public var intact: Bool
        /// The first entry the walk could not accept, and why.
        public var firstBroken: Int64?
        public var reason: String?
    }

    /// The entries that pass the filter, newest first (at most `limit`).
    public static func entries(_ filter: Filter, on connection: PostgresConnection) throws -> [Entry] {
        let parameters: [String?] = [filter.site, filter.user, filter.action, filter.since.map { String($0) }, filter.until.map { String($0) },
                                     String(filter.limit)]
        let r = try connection.execute("""
            SELECT source, seq, time_text, user_name, action, target, reason, old_value, new_value FROM (
                SELECT 'control' AS source, seq, to_timestamp(time_ns / 1e9) AS time, user_name, action, target, reason, old_value, new_value
                FROM control_audit
                UNION ALL
                SELECT site, seq, time, coalesce(user_name, ''), coalesce(action, ''), coalesce(target, ''), record->>'reason',
                       record->>'old_value', record->>'new_value'
                FROM audit_entries) a
            CROSS JOIN LATERAL (SELECT \(SQLTime.iso("a.time")) AS time_text) t
            WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR user_name = $2)
              AND ($3::text IS NULL OR action = $3 OR (right($3, 1) = '.' AND left(action, length($3)) = $3))
              AND ($4::float8 IS NULL OR time >= to_timestamp($4::float8)) AND ($5::float8 IS NULL OR time <= to_timestamp($5::float8))
            ORDER BY time DESC, source, seq DESC LIMIT $6
            """, parameters)
        return r.map { row in
            Entry(source: row.string("source") ?? "", seq: row.int("seq") ?? 0, time: row.string("time_text") ?? "",
                  user: row.string("user_name") ?? "", action: row.string("action") ?? "", target: row.string("target") ?? "",
                  reason: row.string("reason"), oldValue: row.string("old_value"), newValue: row.string("new_value"))
        }
    }

    /// Every chain walked: the Control Site's, then each site's (per store epoch).
    public static func chains(on connection: PostgresConnection) throws -> [Chain] {
        let control = try ControlAuditTrail.entries(connection)
        let broken = ControlAuditTrail.firstBroken(control)
        var chains = [Chain(source: "control", epoch: "", entries: control.count, intact: broken == nil, firstBroken: broken?.seq, reason: broken?.reason)]
        let r = try connection.execute("""
            SELECT site, epoch, seq, record->>'time_ns' AS time_ns, coalesce(user_name, '') AS user_name, coalesce(action, '') AS action,
                   coalesce(target, '') AS target, record->>'reason' AS reason, record->>'old_value' AS old_value,
                   record->>'new_value' AS new_value, previous_hash, hash
            FROM audit_entries ORDER BY site, epoch, seq
            """)
        var current: (site: String, epoch: String)?
        var chain = Chain(source: "", epoch: "", entries: 0, intact: true)
        var previous: (seq: Int64, hash: String?)?
        func finish() { if current != nil { chains.append(chain) } }
        for row in r.map({ $0 }) {
            let site = row.string("site") ?? "", epoch = row.string("epoch") ?? "", seq = row.int("seq") ?? 0
            if current?.site != site || current?.epoch != epoch {
                finish()
                current = (site, epoch)
                chain = Chain(source: site, epoch: epoch, entries: 0, intact: true)
                previous = nil
            }
            chain.entries += 1
            guard chain.intact else { continue }
            func fail(_ reason: String) {
                chain.intact = false
                chain.firstBroken = seq
                chain.reason = reason
            }
            let hash = row.string("hash"), previousHash = row.string("previous_hash")
            if let p = previous, seq != p.seq + 1 {
                fail("entries \(p.seq + 1)...\(seq - 1) are missing")
            } else if let p = previous, previousHash != p.hash {
                fail("does not link to entry \(p.seq)")
            } else if let ns = row.string("time_ns").flatMap({ Int64($0) }), let hash, let previousHash {
                let fields = [row.string("user_name") ?? "", row.string("action") ?? "", row.string("target") ?? ""].map(CanonicalJSON.string)
                    + [row.string("reason"), row.string("old_value"), row.string("new_value")].map(CanonicalJSON.optional)
                if siteHash(seq: seq, timeNanoseconds: ns, fields: fields, previousHash: previousHash) != hash {
                    fail("its content does not hash to its hash: the entry was changed")
                }
            } else {
                fail("the entry lacks its time in nanoseconds or its hashes")
            }
            previous = (seq, hash)
        }
        finish()
        return chains
    }

    /// The site store's hash of an audit entry (form `pocare-audit/1`, docs/site-store.md): the
    /// number, the time in nanoseconds, user, action, target, reason, old and new value, and the
    /// previous entry's hash.
    static func siteHash(seq: Int64, timeNanoseconds: Int64, fields: [String], previousHash: String) -> String {
        SHA256.hex(CanonicalJSON.array([CanonicalJSON.string("pocare-audit/1"), String(seq), String(timeNanoseconds)] + fields
                                       + [CanonicalJSON.string(previousHash)]))
    }
}
