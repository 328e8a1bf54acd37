import ControlSiteRecords
import Foundation

/// The POC Master File as the approved changes left it: per site its role, responsible
/// persons, qualification, registered equipment and trained personnel. Read-only here;
/// every write is an approved change (`ChangeApplication`).
public enum MasterFile {
    public struct SiteRecord: Sendable, Codable, Equatable {
        public var site: String
        public var name: String
        public var role: SiteRole
        public var siteLead: String
        public var qaContact: String
        public var requiredBatches: Int
        public var qualification: QualificationState
        public var qualificationSince: String
        public var qualificationReason: String
        public var registered: String
        /// The approved change that last touched the site's record.
        public var changeId: Int64
    }

    public struct Equipment: Sendable, Codable, Equatable {
        public var site: String
        public var device: String
        public var profile: String
        public var profileFingerprint: String
        public var serialNumber: String?
        public var firmwareVersion: String?
        public var registered: String
        public var registeredChange: Int64
        public var retired: String?
        public var retiredChange: Int64?
    }

    public struct Person: Sendable, Codable, Equatable {
        public var site: String
        public var person: String
        public var account: String
        public var role: PersonnelRole
        /// YYYY-MM-DD.
        public var trainingDate: String
        public var registered: String
        public var registeredChange: Int64
        public var retired: String?

        /// The day after which the training no longer counts (YYYY-MM-DD).
        public func trainingExpires(validDays: Int) -> String {
            guard let date = Self.day.date(from: trainingDate) else { return trainingDate }
            return Self.day.string(from: date.addingTimeInterval(Double(validDays) * 86400))
        }

        /// Whether the GxP training is older than `validDays` at `now`.
        public func trainingExpired(at now: Date = Date(), validDays: Int) -> Bool {
            guard let date = Self.day.date(from: trainingDate) else { return true }
            return now >= date.addingTimeInterval(Double(validDays + 1) * 86400)
        }

        static let day: DateFormatter = {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd"
            return f
        }()
    }

    static let siteColumns = """
        site, name, role, site_lead, qa_contact, required_batches, qualification,
        \(Times.iso("qualification_since")) AS qualification_since_utc, qualification_reason, \(Times.iso("registered")) AS registered_utc, change_id
        """

    public static func site(_ id: String, on connection: PostgresConnection) throws -> SiteRecord? {
        try sites(connection.execute("SELECT \(siteColumns) FROM master_sites WHERE site = $1", [id])).first
    }

    public static func sites(on connection: PostgresConnection) throws -> [SiteRecord] {
        try sites(connection.execute("SELECT \(siteColumns) FROM master_sites ORDER BY role DESC, site"))
    }

    static func sites(_ r: PostgresResult) -> [SiteRecord] {
        r.map { row -> SiteRecord? in
            guard let role = row.string("role").flatMap(SiteRole.init), let state = row.string("qualification").flatMap(QualificationState.init)
            else { return nil }
            return SiteRecord(site: row.string("site") ?? "", name: row.string("name") ?? "", role: role, siteLead: row.string("site_lead") ?? "",
                              qaContact: row.string("qa_contact") ?? "", requiredBatches: Int(row.int("required_batches") ?? 1), qualification: state,
                              qualificationSince: row.string("qualification_since_utc") ?? "", qualificationReason: row.string("qualification_reason") ?? "",
                              registered: row.string("registered_utc") ?? "", changeId: row.int("change_id") ?? 0)
        }.compactMap { $0 }
    }

    /// The site's equipment: what is registered now, or with `history` also what was retired.
    public static func equipment(site: String? = nil, history: Bool = false, on connection: PostgresConnection) throws -> [Equipment] {
        let r = try connection.execute("""
            SELECT site, device, profile, profile_fingerprint, serial_number, firmware_version, \(Times.iso("registered")) AS registered_utc,
                   registered_change, \(Times.iso("retired")) AS retired_utc, retired_change
            FROM registered_equipment WHERE ($1::text IS NULL OR site = $1) AND ($2 OR retired IS NULL)
            ORDER BY site, device, registered
            """, [site, history ? "true" : "false"])
        return r.map { row in
            Equipment(site: row.string("site") ?? "", device: row.string("device") ?? "", profile: row.string("profile") ?? "",
                      profileFingerprint: row.string("profile_fingerprint") ?? "", serialNumber: row.string("serial_number"),
                      firmwareVersion: row.string("firmware_version"), registered: row.string("registered_utc") ?? "",
                      registeredChange: row.int("registered_change") ?? 0, retired: row.string("retired_utc"), retiredChange: row.int("retired_change"))
        }
    }

    /// The site's trained personnel now (or with `history` also those removed).
    public static func personnel(site: String? = nil, history: Bool = false, on connection: PostgresConnection) throws -> [Person] {
        let r = try connection.execute("""
            SELECT site, person, account, role, to_char(training_date, 'YYYY-MM-DD') AS training_day,
                   \(Times.iso("registered")) AS registered_utc, registered_change, \(Times.iso("retired")) AS retired_utc
            FROM site_personnel WHERE ($1::text IS NULL OR site = $1) AND ($2 OR retired IS NULL)
            ORDER BY site, account, registered
            """, [site, history ? "true" : "false"])
        return r.map { row -> Person? in
            guard let role = row.string("role").flatMap(PersonnelRole.init) else { return nil }
            return Person(site: row.string("site") ?? "", person: row.string("person") ?? "", account: row.string("account") ?? "", role: role,
                          trainingDate: row.string("training_day") ?? "", registered: row.string("registered_utc") ?? "",
                          registeredChange: row.int("registered_change") ?? 0, retired: row.string("retired_utc"))
        }.compactMap { $0 }
    }

    /// The released specs approved for each equipment model (the specs that name the model).
    public static func approvedSpecs(on connection: PostgresConnection) throws -> [String: [SpecRegister.Entry]] {
        var byModel: [String: [SpecRegister.Entry]] = [:]
        for entry in try SpecRegister.list(on: connection) where entry.retired == nil {
            for profile in entry.profiles { byModel[profile, default: []].append(entry) }
        }
        return byModel
    }

    /// The site's qualification states over time, oldest first.
    public struct QualificationStep: Sendable, Codable, Equatable {
        public var state: String
        public var since: String
        public var reason: String
        public var changeId: Int64?
        public var evidence: String?
    }

    public static func qualificationHistory(site: String, on connection: PostgresConnection) throws -> [QualificationStep] {
        let r = try connection.execute("""
            SELECT state, \(Times.iso("since")) AS since_utc, reason, change_id, evidence::text AS evidence FROM qualification_history WHERE site = $1 ORDER BY since, id
            """, [site])
        return r.map { row in
            QualificationStep(state: row.string("state") ?? "", since: row.string("since_utc") ?? "", reason: row.string("reason") ?? "",
                              changeId: row.int("change_id"), evidence: row.string("evidence"))
        }
    }
}
