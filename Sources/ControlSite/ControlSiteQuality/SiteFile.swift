import ControlSiteRecords
import Foundation

/// One site's POC Master File as the pages and `sites show` present it: the record, its
/// qualification, equipment (and what the site reports that differs), personnel, the specs
/// approved for its equipment models, open deviations, and its changes.
public struct SiteFile: Sendable, Encodable {
    public var record: MasterFile.SiteRecord
    public var qualification: Qualification.Status
    public var qualificationHistory: [MasterFile.QualificationStep]
    public var equipment: [MasterFile.Equipment]
    /// Equipment nonconformances at the site now (unregistered, profile differs).
    public var nonconformingEquipment: [Nonconformance]
    /// By registered device: how what the site reports differs from the registration.
    public var equipmentProblems: [String: String]
    public var personnel: [MasterFile.Person]
    /// The equipment models registered at the site, and the released specs approved for each.
    public var models: [String]
    public var approvedSpecs: [String: [SpecRegister.Entry]]
    public var openDeviations: [Deviations.Record]
    public var changes: [ChangeControl.Record]
    public var registers: [RegisterVersions.Version]

    public static func load(site: String, settings: QualitySettings, at now: Date = Date(), on connection: PostgresConnection) throws -> SiteFile? {
        guard let record = try MasterFile.site(site, on: connection),
              let qualification = try Qualification.status(site: site, settings: settings, at: now, on: connection)
        else { return nil }
        let equipment = try MasterFile.equipment(site: site, on: connection)
        let nonconforming = try Nonconformance.load(connection).filter { $0.site == site && $0.category == "equipment" && $0.batch == nil }
        let models = Array(Set(equipment.map(\.profile))).sorted()
        let approved = try MasterFile.approvedSpecs(on: connection).filter { models.contains($0.key) }
        return SiteFile(
            record: record, qualification: qualification, qualificationHistory: try MasterFile.qualificationHistory(site: site, on: connection),
            equipment: equipment, nonconformingEquipment: nonconforming,
            equipmentProblems: Dictionary(nonconforming.map { ($0.device, $0.reason) }, uniquingKeysWith: { a, _ in a }),
            personnel: try MasterFile.personnel(site: site, on: connection), models: models, approvedSpecs: approved,
            openDeviations: try Deviations.list(site: site, state: "open", on: connection),
            changes: try ChangeControl.list(site: site, limit: 100, on: connection),
            registers: try RegisterVersions.latest(site: site, on: connection))
    }
}

/// The Master File's columns of the sites overview: qualification, open deviations, nonconformances.
public enum SiteQualityColumns {
    public struct Row: Sendable, Encodable {
        public var site: String
        public var role: String
        public var qualification: String
        /// `ok`, `due_soon` or `overdue` for a qualified site.
        public var check: String?
        public var checkDue: String?
        /// The stored qualification state (`in_qualification`, `qualified`, …).
        public var qualificationState: String
        public var openDeviations: Int
        public var nonconformances: Int
    }

    public static func load(settings: QualitySettings, at now: Date = Date(), on connection: PostgresConnection) throws -> [String: Row] {
        let nonconformances = Dictionary(grouping: try Nonconformance.load(connection), by: \.site)
        let deviations = try connection.execute("SELECT site, count(*) AS open FROM deviations WHERE state <> 'closed' GROUP BY site")
        var open: [String: Int] = [:]
        for row in deviations.map({ $0 }) { if let s = row.string("site") { open[s] = Int(row.int("open") ?? 0) } }
        var rows: [String: Row] = [:]
        for status in try Qualification.statuses(settings: settings, at: now, on: connection) {
            rows[status.site] = Row(site: status.site, role: status.role.rawValue, qualification: status.display, check: status.check,
                                    checkDue: status.checkDue, qualificationState: status.state.rawValue, openDeviations: open[status.site] ?? 0,
                                    nonconformances: nonconformances[status.site]?.count ?? 0)
        }
        return rows
    }
}
