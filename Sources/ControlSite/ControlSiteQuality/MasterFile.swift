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
        site, name, role, site_lead, qa_contact, required_batches, qualification, \(Times.iso("qualification_since")),
        qualification_reason, \(Times.iso("registered")), change_id
        """

    public static func site(_ id: String, on connection: PostgresConnection) throws -> SiteRecord? {
        try sites(connection.execute("SELECT \(siteColumns) FROM master_sites WHERE site = $1", [id])).first
    }

    public static func sites(on connection: PostgresConnection) throws -> [SiteRecord] {
        try sites(connection.execute("SELECT \(siteColumns) FROM master_sites ORDER BY role DESC, site"))
    }

    static func sites(_ r: PostgresResult) -> [SiteRecord] {
        (0..<r.rowCount).compactMap { i in
            guard let role = r.string(i, 2).flatMap(SiteRole.init), let state = r.string(i, 6).flatMap(QualificationState.init) else { return nil }
            return SiteRecord(site: r.string(i, 0) ?? "", name: r.string(i, 1) ?? "", role: role, siteLead: r.string(i, 3) ?? "",
                              qaContact: r.string(i, 4) ?? "", requiredBatches: Int(r.int(i, 5) ?? 1), qualification: state,
                              qualificationSince: r.string(i, 7) ?? "", qualificationReason: r.string(i, 8) ?? "",
                              registered: r.string(i, 9) ?? "", changeId: r.int(i, 10) ?? 0)
        }
    }

    /// The site's equipment: what is registered now, or with `history` also what was retired.
    public static func equipment(site: String? = nil, history: Bool = false, on connection: PostgresConnection) throws -> [Equipment] {
        let r = try connection.execute("""
            SELECT site, device, profile, profile_fingerprint, serial_number, firmware_version, \(Times.iso("registered")), registered_change,
                   \(Times.iso("retired")), retired_change
            FROM registered_equipment WHERE ($1::text IS NULL OR site = $1) AND ($2 OR retired IS NULL)
            ORDER BY site, device, registered
            """, [site, history ? "true" : "false"])
        return (0..<r.rowCount).map { i in
            Equipment(site: r.string(i, 0) ?? "", device: r.string(i, 1) ?? "", profile: r.string(i, 2) ?? "",
                      profileFingerprint: r.string(i, 3) ?? "", serialNumber: r.string(i, 4), firmwareVersion: r.string(i, 5),
                      registered: r.string(i, 6) ?? "", registeredChange: r.int(i, 7) ?? 0, retired: r.string(i, 8), retiredChange: r.int(i, 9))
        }
    }

    /// The site's trained personnel now (or with `history` also those removed).
    public static func personnel(site: String? = nil, history: Bool = false, on connection: PostgresConnection) throws -> [Person] {
        let r = try connection.execute("""
            SELECT site, person, account, role, to_char(training_date, 'YYYY-MM-DD'), \(Times.iso("registered")), registered_change,
                   \(Times.iso("retired"))
            FROM site_personnel WHERE ($1::text IS NULL OR site = $1) AND ($2 OR retired IS NULL)
            ORDER BY site, account, registered
            """, [site, history ? "true" : "false"])
        return (0..<r.rowCount).compactMap { i in
            guard let role = r.string(i, 3).flatMap(PersonnelRole.init) else { return nil }
            return Person(site: r.string(i, 0) ?? "", person: r.string(i, 1) ?? "", account: r.string(i, 2) ?? "", role: role,
                          trainingDate: r.string(i, 4) ?? "", registered: r.string(i, 5) ?? "", registeredChange: r.int(i, 6) ?? 0,
                          retired: r.string(i, 7))
        }
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
            SELECT state, \(Times.iso("since")), reason, change_id, evidence::text FROM qualification_history WHERE site = $1 ORDER BY since, id
            """, [site])
        return (0..<r.rowCount).map { i in
            QualificationStep(state: r.string(i, 0) ?? "", since: r.string(i, 1) ?? "", reason: r.string(i, 2) ?? "", changeId: r.int(i, 3),
                              evidence: r.string(i, 4))
        }
    }
}
