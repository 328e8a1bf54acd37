import POCareContract
import ControlSiteRecords
import Foundation

/// The registers sites enforce come only from approved changes: each approved change that
/// alters a site's trained personnel writes the site's next register version (table
/// `register_versions`), carrying the change, its approver and the register's hash;
/// `pocare-control run` publishes each site's newest version retained (`RegisterPublisher`).
public enum RegisterVersions {
    static func changed(by content: ChangeContent, change: ChangeControl.Record, approver: WebUsers.User, settings: QualitySettings,
                        on connection: PostgresConnection) throws {
        switch content {
        case .personnelRegister(let site, _), .personnelRetire(let site, _), .personnelTraining(let site, _, _):
            try writePersonnel(site: site, change: change, approver: approver, settings: settings, on: connection)
        default:
            // The released-spec register is rebuilt from `released_specs`, which only approved changes write.
            break
        }
    }

    /// The site's personnel register as it stands in the Master File, as the next version.
    static func writePersonnel(site: String, change: ChangeControl.Record, approver: WebUsers.User, settings: QualitySettings,
                               on connection: PostgresConnection) throws {
        try connection.execute("SELECT pg_advisory_xact_lock(7146355)")
        let version = (try connection.execute("""
            SELECT coalesce(max(version), 0) + 1 FROM register_versions WHERE register = 'personnel' AND site = $1
            """, [site]).int(0, 0)) ?? 1
        let people = try MasterFile.personnel(site: site, on: connection).map { p in
            PersonnelRegister.Person(account: p.account, person: p.person, role: p.role.rawValue, trainingDate: p.trainingDate,
                                     trainingExpires: p.trainingExpires(validDays: settings.trainingValidDays))
        }
        let issued = try connection.execute("SELECT \(Times.iso("now()"))").string(0, 0) ?? ""
        let register = PersonnelRegister(
            site: site, version: version, issued: issued, trainingValidDays: settings.trainingValidDays, people: people,
            change: change.reference, approvedBy: approver.userName, approvedByName: approver.fullName)
        try connection.execute("""
            INSERT INTO register_versions (register, site, version, payload, register_hash, change_id) VALUES ('personnel', $1, $2, $3, $4, $5)
            """, [site, String(version), String(decoding: register.encode(), as: UTF8.self), register.registerHash, String(change.id)])
    }

    public struct Version: Sendable, Codable, Equatable {
        public var register: String
        public var site: String
        public var version: Int64
        public var registerHash: String
        public var change: Int64
        public var created: String
    }

    /// Every site's newest register versions.
    public static func latest(site: String? = nil, on connection: PostgresConnection) throws -> [Version] {
        let r = try connection.execute("""
            SELECT DISTINCT ON (register, site) register, site, version, register_hash, change_id, \(Times.iso("created"))
            FROM register_versions WHERE ($1::text IS NULL OR site = $1) ORDER BY register, site, version DESC
            """, [site])
        return (0..<r.rowCount).map { i in
            Version(register: r.string(i, 0) ?? "", site: r.string(i, 1) ?? "", version: r.int(i, 2) ?? 0, registerHash: r.string(i, 3) ?? "",
                    change: r.int(i, 4) ?? 0, created: r.string(i, 5) ?? "")
        }
    }
}
