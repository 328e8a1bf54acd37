import ControlSiteRecords
import Foundation
import Hashing

/// Comparisons of a site with the reference site, as QA records and signs them (table
/// `comparisons`): the report `compare` computed, the batches it included, its outcome for the
/// site, and QA's signature bound to the report's SHA-256. Qualification counts the signed
/// ones that found a site comparable; the yearly check falls due a year after the newest.
public enum Comparisons {
    public struct Summary: Sendable, Codable, Equatable {
        public var id: Int64
        public var reference: String { "CMP-\(id)" }
        public var site: String
        public var referenceSite: String
        public var spec: String
        public var phase: String
        public var purpose: String
        public var batches: [String]
        public var outcome: String
        public var method: String
        public var reportHash: String
        public var recorded: String
        public var recordedBy: String
        public var signed: String?
        public var signedBy: String?
        public var signedFullName: String?
        public var signComment: String?
    }

    public enum Purpose: String, Sendable, CaseIterable {
        /// Part of qualifying an additional site.
        case qualification
        /// The yearly comparability check of a qualified site.
        case yearly
    }

    /// `CMP-3` or `3`.
    public static func parseReference(_ text: String) throws(QualityRefusal) -> Int64 {
        let digits = text.uppercased().hasPrefix("CMP-") ? String(text.dropFirst(4)) : text
        guard let id = Int64(digits), id > 0 else { throw QualityRefusal(.invalidInput, "'\(text.prefix(40))' is not a comparison (CMP-number)") }
        return id
    }

    /// The outcome of a report for one site: comparable when every parameter was judged and none is flagged.
    public static func outcome(of report: ComparisonReport, for site: String) -> (comparable: Bool, reasons: [String]) {
        let assessments = report.sites.filter { $0.site == site }
        guard !assessments.isEmpty else { return (false, ["the report has no batch of \(site)"]) }
        let problems = assessments.filter { $0.flagged || $0.tooFewBatches }
        return (problems.isEmpty, problems.map { "\($0.parameter): \($0.reasons.joined(separator: "; "))" })
    }

    public static func method(_ settings: Comparability.Settings) -> String {
        "pocare-compare/1: quality range reference mean ± \(settings.k) SD with \(Int(settings.requiredShare * 100))% of batches inside; "
            + "TOST margin \(settings.marginInReferenceSD) reference SD at alpha \(settings.alpha) from \(settings.minimumBatches) batches"
    }

    /// QA records a comparison from a report, for one site; it counts once signed.
    public static func record(_ report: ComparisonReport, site: String, purpose: Purpose, by actor: WebUsers.User,
                              on connection: PostgresConnection) throws -> Summary {
        try Signer.require(actor, roles: Signer.qualityRoles, action: "comparison.record", target: site, on: connection)
        return try Signer.attempt(user: actor.userName, action: "comparison.record", target: site, on: connection) {
            guard site != report.reference else { throw QualityRefusal(.invalidInput, "\(site) is the report's reference site") }
            let batches = report.batches.filter { $0.site == site }.map(\.batch)
            guard !batches.isEmpty else { throw QualityRefusal(.invalidInput, "the report holds no batch of \(site)") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let json = try connection.execute("SELECT $1::jsonb::text", [String(decoding: try encoder.encode(report), as: UTF8.self)])
                .string(0, 0) ?? "{}"
            let outcome = outcome(of: report, for: site)
            let row = try connection.execute("""
                INSERT INTO comparisons (site, reference_site, spec, phase, purpose, batches, outcome, method, report, report_hash, recorded_by)
                VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9::jsonb, $10, $11) RETURNING id
                """, [site, report.reference, report.spec, report.phase, purpose.rawValue, PostgresArray.text(Array(Set(batches)).sorted()),
                      outcome.comparable ? "comparable" : "not_comparable", method(report.settings), json, SHA256.hex(json), actor.userName])
            let id = row.int(0, 0) ?? 0
            try ControlAuditTrail.append(ControlAuditAction(
                user: actor.userName, action: "comparison.record", target: "CMP-\(id)",
                reason: outcome.reasons.isEmpty ? nil : outcome.reasons.joined(separator: "; "),
                newValue: "\(site) against \(report.reference), \(report.phase): \(outcome.comparable ? "comparable" : "not comparable"), report sha256:\(SHA256.hex(json))"),
                to: connection)
            return try find(id, on: connection)!
        }
    }

    /// QA signs a recorded comparison: password again, and the report hash they were shown.
    @discardableResult
    public static func sign(_ id: Int64, shownHash: String, comment: String, userName: String, password: String,
                            on connection: PostgresConnection) throws -> Summary {
        let comment = try FreeText.optional(comment, "the comment")
        let user = try Signer.authenticate(userName: userName, password: password, roles: Signer.qualityRoles, action: "comparison.sign",
                                           target: "CMP-\(id)", on: connection)
        return try Signer.attempt(user: user.userName, action: "comparison.sign", target: "CMP-\(id)", on: connection) {
            guard try connection.execute("SELECT 1 FROM comparisons WHERE id = $1 FOR UPDATE", [String(id)]).rowCount == 1,
                  let current = try find(id, on: connection), let report = try reportText(id, on: connection)
            else { throw QualityRefusal(.notFound, "no comparison CMP-\(id)") }
            guard current.signed == nil else { throw QualityRefusal(.stateConflict, "CMP-\(id) is signed already") }
            guard SHA256.hex(report) == current.reportHash else {
                throw QualityRefusal(.recordChanged, "CMP-\(id)'s report does not hash to what was recorded; it was altered")
            }
            guard HashPrefix.names(current.reportHash, shownHash) else {
                throw QualityRefusal(.recordChanged, "the record changed since you opened it: CMP-\(id) has report sha256:\(current.reportHash.prefix(12))")
            }
            try connection.execute("""
                UPDATE comparisons SET signed = now(), signed_by = $2, signed_full_name = $3, sign_comment = $4 WHERE id = $1
                """, [String(id), user.userName, user.fullName, comment.isEmpty ? nil : comment])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "comparison.sign", target: "CMP-\(id)", reason: comment.isEmpty ? nil : comment,
                newValue: "\(current.outcome.replacingOccurrences(of: "_", with: " ")) signed by \(user.fullName) (\(user.role.rawValue)), report sha256:\(current.reportHash)"),
                to: connection)
            try Qualification.refresh(site: current.site, by: user.userName, on: connection)
            return try find(id, on: connection)!
        }
    }

    static let columns = """
        id, site, reference_site, spec, phase, purpose, array_to_string(batches, E'\\x1f'), outcome, method, report_hash,
        \(Times.iso("recorded")), recorded_by, \(Times.iso("signed")), signed_by, signed_full_name, sign_comment
        """

    public static func find(_ id: Int64, on connection: PostgresConnection) throws -> Summary? {
        try summaries(connection.execute("SELECT \(columns) FROM comparisons WHERE id = $1", [String(id)])).first
    }

    /// The report as recorded (JSON).
    public static func reportText(_ id: Int64, on connection: PostgresConnection) throws -> String? {
        try connection.execute("SELECT report::text FROM comparisons WHERE id = $1", [String(id)]).string(0, 0)
    }

    public static func list(site: String? = nil, on connection: PostgresConnection) throws -> [Summary] {
        try summaries(connection.execute("""
            SELECT \(columns) FROM comparisons WHERE ($1::text IS NULL OR site = $1 OR reference_site = $1) ORDER BY id DESC LIMIT 500
            """, [site]))
    }

    /// Signed comparisons that judged `site`, newest first.
    public static func signed(site: String, on connection: PostgresConnection) throws -> [Summary] {
        try summaries(connection.execute("""
            SELECT \(columns) FROM comparisons WHERE site = $1 AND signed IS NOT NULL ORDER BY signed DESC, id DESC
            """, [site]))
    }

    /// The newest signed comparison in which the site took part, judged or as the reference
    /// (with `comparableOnly`, the newest that found the sites comparable).
    public static func lastSigned(site: String, comparableOnly: Bool = false, on connection: PostgresConnection) throws -> Summary? {
        try summaries(connection.execute("""
            SELECT \(columns) FROM comparisons WHERE (site = $1 OR reference_site = $1) AND signed IS NOT NULL
              AND (NOT $2 OR outcome = 'comparable')
            ORDER BY signed DESC, id DESC LIMIT 1
            """, [site, comparableOnly ? "true" : "false"])).first
    }

    static func summaries(_ r: PostgresResult) -> [Summary] {
        (0..<r.rowCount).map { i in
            Summary(id: r.int(i, 0) ?? 0, site: r.string(i, 1) ?? "", referenceSite: r.string(i, 2) ?? "", spec: r.string(i, 3) ?? "",
                    phase: r.string(i, 4) ?? "", purpose: r.string(i, 5) ?? "",
                    batches: (r.string(i, 6) ?? "").split(separator: "\u{1f}").map(String.init), outcome: r.string(i, 7) ?? "",
                    method: r.string(i, 8) ?? "", reportHash: r.string(i, 9) ?? "", recorded: r.string(i, 10) ?? "",
                    recordedBy: r.string(i, 11) ?? "", signed: r.string(i, 12), signedBy: r.string(i, 13), signedFullName: r.string(i, 14),
                    signComment: r.string(i, 15))
        }
    }
}
