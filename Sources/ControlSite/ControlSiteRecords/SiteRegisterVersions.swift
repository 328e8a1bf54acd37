import Foundation
import POCareContract

/// The registers of one site (its trained personnel), beside the released-spec register every
/// site shares, in the one table of register versions (`register_versions`, `site` set): each
/// version is written in the transaction of the approved change that made it, and the one
/// publisher (`RegisterPublisher`) publishes each site's newest of each kind.
extension RegisterVersions {
    public struct Version: Sendable, Codable, Equatable {
        public var kind: String
        /// Empty for a register every site receives.
        public var site: String
        public var version: Int64
        public var hash: String
        /// The approved change (CC-number) the version comes from, where one made it.
        public var change: Int64?
        public var signedBy: String
        public var created: String
    }

    /// The newest version of each register `site` receives (its own and the shared ones); every
    /// site's when `site` is nil.
    public static func latest(site: String? = nil, on connection: PostgresConnection) throws -> [Version] {
        let r = try connection.execute("""
            SELECT DISTINCT ON (kind, site) kind, site, version, hash, change_id, signer_name, \(SQLTime.iso("created")) AS created
            FROM register_versions WHERE $1::text IS NULL OR site = $1 OR site = ''
            ORDER BY kind, site, version DESC
            """, [site])
        return (0..<r.rowCount).map { i in
            Version(kind: r.string(i, "kind") ?? "", site: r.string(i, "site") ?? "", version: r.int(i, "version") ?? 0,
                    hash: r.string(i, "hash") ?? "", change: r.int(i, "change_id"), signedBy: r.string(i, "signer_name") ?? "",
                    created: r.string(i, "created") ?? "")
        }
    }

    /// The next version number of `kind` for `site`, taken under the registers' lock in the
    /// caller's transaction.
    public static func nextVersion(kind: String, site: String, on connection: PostgresConnection) throws -> Int64 {
        try connection.execute("SELECT pg_advisory_xact_lock(\(lock))")
        return try connection.execute("""
            SELECT coalesce(max(version), 0) + 1 AS next FROM register_versions WHERE kind = $1 AND site = $2
            """, [kind, site]).int(0, "next") ?? 1
    }

    /// Writes a version of one site's register, in the transaction of the approved change `change`.
    public static func append(_ register: ControlSiteRegister, site: String, change: Int64, on connection: PostgresConnection) throws {
        try connection.execute("""
            INSERT INTO register_versions (kind, site, version, hash, entries, canonical, signer_name, signer_user, signed_at, meaning, change_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """, [register.kind, site, String(register.version), register.hash, RegisterValue.array(register.entries).canonical,
                  register.canonicalForm, register.signedBy.name, register.signedBy.user, register.signedBy.time, register.signedBy.meaning,
                  String(change)])
    }

    /// Each site's newest version of each of its own registers.
    static func siteRegisters(_ connection: PostgresConnection) throws -> [(site: String, register: ControlSiteRegister)] {
        let r = try connection.execute("""
            SELECT DISTINCT ON (kind, site) site, canonical FROM register_versions WHERE site <> '' ORDER BY kind, site, version DESC
            """)
        return (0..<r.rowCount).compactMap { i in
            guard let site = r.string(i, "site"), let register = r.string(i, "canonical").flatMap(ControlSiteRegister.decode(canonical:))
            else { return nil }
            return (site, register)
        }
    }
}
