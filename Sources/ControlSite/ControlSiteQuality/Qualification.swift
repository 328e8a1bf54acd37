import ControlSiteRecords
import Foundation
import Hashing

/// Site qualification, the seed's tech-transfer rules as states: a reference site is qualified
/// by its certified verification batches (3 unless QA set fewer), an additional site by its
/// certified comparability batches (at least 1) and a signed comparison that found it comparable
/// with the reference site. A batch counts when it started while the site was not qualified and
/// ended conforming and certified. A qualified site's comparability check falls due a year
/// (configurable) after its last signed comparison. QA suspends or reinstates by change control.
public enum Qualification {
    public struct Status: Sendable, Codable, Equatable {
        public var site: String
        public var role: SiteRole
        public var state: QualificationState
        public var since: String
        public var reason: String
        public var requiredBatches: Int
        /// The certified verification or comparability batches that count.
        public var countedBatches: [String]
        /// The newest signed comparison of the site (as judged site or as reference), if any.
        public var lastComparison: Comparisons.Summary?
        /// When QA last approved a comparison that found the site comparable (qualified sites).
        public var lastComparable: String?
        /// When the yearly comparability check falls due (qualified sites), YYYY-MM-DD:
        /// `qms.comparability_interval` after the later of the qualification and `lastComparable`.
        public var checkDue: String?
        public var daysToCheck: Int?
        /// `ok`, `due_soon` or `overdue` for a qualified site; nil otherwise.
        public var check: String?

        /// The state in words, with its progress or its due date.
        public var display: String {
            switch state {
            case .inQualification, .notQualified:
                let what = role == .reference ? "verification" : "comparability"
                var text = "\(state.words) (\(min(countedBatches.count, requiredBatches)) of \(requiredBatches) \(what) batches certified"
                if role == .additional {
                    text += lastComparison.map { c in c.outcome == "comparable" ? "; comparable (\(c.reference))" : "; \(c.reference): \(c.outcome)" }
                        ?? "; no signed comparison"
                }
                return text + ")"
            case .qualified:
                switch check {
                case "overdue": return "check due: comparability check overdue since \(checkDue ?? "?")"
                case "due_soon": return "qualified; comparability check due \(checkDue ?? "?") (in \(daysToCheck ?? 0) days)"
                default: return "qualified" + (checkDue.map { "; next check due \($0)" } ?? "")
                }
            case .suspended: return "suspended: \(reason)"
            }
        }
    }

    public static func status(site: String, settings: QualitySettings, at now: Date = Date(), on connection: PostgresConnection) throws -> Status? {
        guard let record = try MasterFile.site(site, on: connection) else { return nil }
        var status = Status(
            site: site, role: record.role, state: record.qualification, since: record.qualificationSince, reason: record.qualificationReason,
            requiredBatches: record.requiredBatches, countedBatches: try countedBatches(site: site, on: connection),
            lastComparison: try Comparisons.lastSigned(site: site, on: connection))
        if record.qualification == .qualified {
            let comparable = try Comparisons.lastSigned(site: site, comparableOnly: true, on: connection)
            status.lastComparable = comparable?.signed
            let base = [Times.parse(record.qualificationSince), comparable.flatMap { Times.parse($0.signed ?? "") }]
                .compactMap { $0 }.max() ?? now
            let due = base.addingTimeInterval(Double(settings.comparabilityIntervalDays) * 86400)
            let days = Int((due.timeIntervalSince(now) / 86400).rounded(.down))
            status.checkDue = MasterFile.Person.day.string(from: due)
            status.daysToCheck = days
            status.check = now > due ? "overdue" : days <= settings.checkDueWarningDays ? "due_soon" : "ok"
        }
        return status
    }

    public static func statuses(settings: QualitySettings, at now: Date = Date(), on connection: PostgresConnection) throws -> [Status] {
        try MasterFile.sites(on: connection).compactMap { try status(site: $0.site, settings: settings, at: now, on: connection) }
    }

    /// The qualified sites' yearly comparability checks: the one due date every page and
    /// command shows (the sites page, the Master File, the comparisons list).
    public static func yearlyChecks(settings: QualitySettings, at now: Date = Date(), on connection: PostgresConnection) throws -> [Status] {
        try statuses(settings: settings, at: now, on: connection).filter { $0.checkDue != nil }.sorted { $0.site < $1.site }
    }

    /// Batches that started while the site was not qualified (nor suspended), were certified
    /// and are conforming.
    public static func countedBatches(site: String, on connection: PostgresConnection) throws -> [String] {
        let candidates = try connection.execute("""
            SELECT r.batch FROM batch_runs r WHERE r.site = $1 GROUP BY r.batch
            HAVING \(BatchPurpose.sql(site: "$1", time: "min(r.first_time)")) IN ('verification', 'comparability')
            ORDER BY min(r.first_time)
            """, [site])
        let batches = candidates.map { $0.string("batch") }.compactMap { $0 }
        guard !batches.isEmpty else { return [] }
        let nonconforming = Set(try Nonconformance.load(connection).filter { $0.site == site }.compactMap(\.batch))
        return try batches.filter { batch in
            guard !nonconforming.contains(batch) else { return false }
            return try Disposition.isCertified(site: site, batch: batch, on: connection)
        }
    }

    /// Moves an in-qualification site to qualified when its evidence is complete; called in
    /// the transaction of each certification and each comparison signature, so the state
    /// follows the evidence at once. Returns whether the site became qualified.
    @discardableResult
    public static func refresh(site: String, by user: String, on connection: PostgresConnection) throws -> Bool {
        let record = try connection.execute(
            "SELECT role, qualification, required_batches FROM master_sites WHERE site = $1 FOR UPDATE", [site])
        guard record.rowCount > 0, record.string(0, "qualification") == QualificationState.inQualification.rawValue,
              let role = record.string(0, "role").flatMap(SiteRole.init), let required = record.int(0, "required_batches").map({ Int($0) })
        else { return false }
        let counted = try countedBatches(site: site, on: connection)
        guard counted.count >= required else { return false }
        var comparison: Comparisons.Summary?
        if role == .additional {
            comparison = try Comparisons.signed(site: site, on: connection)
                .first { $0.outcome == "comparable" && !Set($0.batches).isDisjoint(with: counted) }
            guard comparison != nil else { return false }
        }
        let reason = role == .reference
            ? "\(counted.count) verification batches certified: \(counted.joined(separator: ", "))"
            : "comparability batches certified: \(counted.joined(separator: ", ")); \(comparison!.reference) found it comparable with \(comparison!.referenceSite)"
        let evidence = "{\"batches\":[" + counted.map(CanonicalJSON.string).joined(separator: ",") + "]"
            + (comparison.map { ",\"comparison\":\($0.id)" } ?? "") + "}"
        try connection.execute("SELECT set_config('pocare.qualification_evidence', $1, true)", [evidence])
        try connection.execute("""
            UPDATE master_sites SET qualification = 'qualified', qualification_since = now(), qualification_reason = $2 WHERE site = $1
            """, [site, reason])
        try connection.execute("SELECT set_config('pocare.qualification_evidence', '', true)")
        try ControlAuditTrail.append(ControlAuditAction(
            user: user, action: "site.qualified", target: site, reason: reason, oldValue: "in qualification", newValue: "qualified"), to: connection)
        return true
    }
}


extension Times {
    static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }
}
