import Foundation
import Hashing

/// Comparison reports kept for QA's signature (table `comparison_reports`): the report's
/// canonical JSON exactly as hashed, never changed after it is stored (the database refuses an
/// update or a delete), with the SHA-256 of those bytes. A QA signature (`comparison_signatures`)
/// binds to that hash; the hash is recomputed from the stored bytes whenever it is shown, so a
/// report changed behind the database's back shows its signatures INVALID.
public enum StoredComparisons {
    public struct Entry: Sendable, Codable, Equatable {
        public var id: Int64
        public var created: String
        public var createdBy: String
        public var kind: String
        public var spec: String
        public var profile: String
        public var phase: String
        public var reference: String
        public var verdicts: [String: String]
        public var methodVersion: String
        public var reportHash: String
        /// The stored bytes still hash to `reportHash`.
        public var intact: Bool
        public var signatures: [Signature]
    }

    public struct Signature: Sendable, Codable, Equatable {
        public var id: Int64
        public var userName: String
        public var fullName: String
        public var role: String
        public var meaning: String
        public var comment: String
        public var signed: String
        public var reportHash: String
        public var valid: Bool

        public init(
            id: Int64, userName: String, fullName: String, role: String, meaning: String, comment: String, signed: String, reportHash: String,
            valid: Bool
        ) {
            self.id = id
            self.userName = userName
            self.fullName = fullName
            self.role = role
            self.meaning = meaning
            self.comment = comment
            self.signed = signed
            self.reportHash = reportHash
            self.valid = valid
        }
    }

    /// Stores the report and audits who stored it; returns its id.
    public static func store(_ report: ComparisonReport, by user: String, on connection: PostgresConnection) throws -> Int64 {
        let bytes = try report.canonicalJSON()
        let text = String(decoding: bytes, as: UTF8.self)
        let hash = SHA256.hex(text)
        let verdicts = Dictionary(uniqueKeysWithValues: report.judgements.map { ($0.site, $0.verdict.rawValue) })
        let verdictJSON = String(decoding: try JSONSerialization.data(withJSONObject: verdicts, options: [.sortedKeys]), as: UTF8.self)
        return try connection.transaction {
            let row = try connection.execute("""
                INSERT INTO comparison_reports (created_by, kind, spec, profile, phase, reference, verdicts, method_version, report, report_hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) RETURNING id
                """, [user, report.kind.rawValue, report.spec, report.profile, report.phase, report.reference, verdictJSON,
                      report.methodVersion, text, hash])
            let id = row.int(0, "id") ?? 0
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "comparison.store", target: "comparison/\(id)", reason: nil,
                newValue: "\(report.kind.rawValue) \(report.profile) \(report.phase) against \(report.reference): "
                    + verdicts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ", report sha256:\(hash)"),
                to: connection)
            return id
        }
    }

    /// The newest stored comparisons (at most `limit`), each with its signatures checked.
    public static func list(on connection: PostgresConnection, limit: Int = 200) throws -> [Entry] {
        let rows = try connection.execute("""
            SELECT id, \(SQLTime.iso("created")) AS created, created_by, kind, spec, profile, phase, reference, verdicts::text AS verdicts,
                   method_version, report_hash, encode(sha256(convert_to(report, 'UTF8')), 'hex') = report_hash AS intact
            FROM comparison_reports ORDER BY id DESC LIMIT $1
            """, [String(limit)])
        return try (0..<rows.rowCount).map { r in try entry(rows, r, on: connection) }
    }

    public static func find(_ id: Int64, on connection: PostgresConnection) throws -> (entry: Entry, report: ComparisonReport)? {
        let rows = try connection.execute("""
            SELECT id, \(SQLTime.iso("created")) AS created, created_by, kind, spec, profile, phase, reference, verdicts::text AS verdicts,
                   method_version, report_hash, encode(sha256(convert_to(report, 'UTF8')), 'hex') = report_hash AS intact, report
            FROM comparison_reports WHERE id = $1
            """, [String(id)])
        guard rows.rowCount == 1, let text = rows.string(0, "report") else { return nil }
        return (try entry(rows, 0, on: connection), try ComparisonReport.decode(canonicalJSON: Data(text.utf8)))
    }

    static func entry(_ rows: PostgresResult, _ r: Int, on connection: PostgresConnection) throws -> Entry {
        let id = rows.int(r, "id") ?? 0
        let hash = rows.string(r, "report_hash") ?? ""
        let intact = rows.bool(r, "intact") ?? false
        let verdicts = try JSONSerialization.jsonObject(with: Data((rows.string(r, "verdicts") ?? "{}").utf8)) as? [String: String] ?? [:]
        let s = try connection.execute("""
            SELECT id, user_name, full_name, role, meaning, comment, \(SQLTime.iso("signed")) AS signed, report_hash
            FROM comparison_signatures WHERE report_id = $1 ORDER BY comparison_signatures.signed, id
            """, [String(id)])
        let signatures = (0..<s.rowCount).map { i in
            Signature(id: s.int(i, "id") ?? 0, userName: s.string(i, "user_name") ?? "", fullName: s.string(i, "full_name") ?? "",
                      role: s.string(i, "role") ?? "", meaning: s.string(i, "meaning") ?? "", comment: s.string(i, "comment") ?? "",
                      signed: s.string(i, "signed") ?? "", reportHash: s.string(i, "report_hash") ?? "",
                      valid: intact && s.string(i, "report_hash") == hash)
        }
        return Entry(id: id, created: rows.string(r, "created") ?? "", createdBy: rows.string(r, "created_by") ?? "",
                     kind: rows.string(r, "kind") ?? "", spec: rows.string(r, "spec") ?? "", profile: rows.string(r, "profile") ?? "",
                     phase: rows.string(r, "phase") ?? "", reference: rows.string(r, "reference") ?? "", verdicts: verdicts,
                     methodVersion: rows.string(r, "method_version") ?? "", reportHash: hash, intact: intact, signatures: signatures)
    }
}
