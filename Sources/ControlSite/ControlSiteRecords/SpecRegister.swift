import Foundation
import POCareCore

/// QA's register of released IPC specs, by fingerprint. Releasing and retiring are audited in
/// the same transaction as the change.
public enum SpecRegister {
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Entry: Sendable, Codable, Equatable {
        public var fingerprint: String
        public var product: String
        public var document: String
        public var version: String
        public var approvedBy: String
        public var approvalDate: String
        public var released: String
        public var releasedBy: String
        public var releaseReason: String
        public var retired: String?
        public var retiredBy: String?
        public var retireReason: String?
        public var status: String { retired == nil ? "released" : "retired" }
    }

    public static func release(_ spec: IPCSpec, text: String, reason: String, user: String, on connection: PostgresConnection) throws {
        try connection.transaction {
            let existing = try connection.execute("SELECT retired FROM released_specs WHERE fingerprint = $1 FOR UPDATE", [spec.fingerprint])
            if existing.rowCount > 0 {
                throw Refusal(description: existing.isNull(0, 0)
                    ? "\(spec.fingerprint) is already released"
                    : "\(spec.fingerprint) was retired; a retired spec is not released again (release a new version)")
            }
            let id = spec.identity
            try connection.execute("""
                INSERT INTO released_specs (fingerprint, product, document, version, approved_by, approval_date, spec_text,
                                            released, released_by, release_reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9)
                """, [spec.fingerprint, id.product, id.documentId, id.version, id.approvedBy, id.approvalDate, text, user, reason])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "spec.release", target: spec.fingerprint, reason: reason, oldValue: nil,
                newValue: "\(id.documentId) version \(id.version)"), to: connection)
        }
    }

    /// Retires a released spec; `fingerprint` may be the full one or its first 12 or more hex digits.
    @discardableResult
    public static func retire(_ fingerprint: String, reason: String, user: String, on connection: PostgresConnection) throws -> String {
        try connection.transaction {
            let full = try resolve(fingerprint, on: connection)
            let row = try connection.execute("SELECT retired FROM released_specs WHERE fingerprint = $1 FOR UPDATE", [full])
            guard row.isNull(0, 0) else { throw Refusal(description: "\(full) is already retired") }
            try connection.execute("""
                UPDATE released_specs SET retired = now(), retired_by = $2, retire_reason = $3 WHERE fingerprint = $1
                """, [full, user, reason])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "spec.retire", target: full, reason: reason, oldValue: "released", newValue: "retired"),
                to: connection)
            return full
        }
    }

    static func resolve(_ fingerprint: String, on connection: PostgresConnection) throws -> String {
        // At least 12 hex digits, unambiguous: no command acts on a guess.
        let pattern: String
        switch FingerprintReference.digits(fingerprint) {
        case .failure(let refusal): throw Refusal(description: refusal.description)
        case .success(let digits): pattern = "sha256:" + digits
        }
        let matches = try connection.execute(
            "SELECT fingerprint FROM released_specs WHERE fingerprint LIKE $1 || '%' ORDER BY fingerprint", [pattern])
        guard matches.rowCount == 1 else {
            throw Refusal(description: matches.rowCount == 0
                ? "no released spec has fingerprint \(fingerprint)" : "\(fingerprint) matches \(matches.rowCount) specs; give more digits")
        }
        return matches.string(0, 0)!
    }

    public static func list(on connection: PostgresConnection) throws -> [Entry] {
        let result = try connection.execute("""
            SELECT fingerprint, product, document, version, approved_by, approval_date, \(SQLTime.iso("released")), released_by,
                   release_reason, \(SQLTime.iso("retired")), retired_by, retire_reason
            FROM released_specs ORDER BY released
            """)
        return (0..<result.rowCount).map { r in
            Entry(fingerprint: result.string(r, 0)!, product: result.string(r, 1)!, document: result.string(r, 2)!,
                  version: result.string(r, 3)!, approvedBy: result.string(r, 4)!, approvalDate: result.string(r, 5)!,
                  released: result.string(r, 6)!, releasedBy: result.string(r, 7)!, releaseReason: result.string(r, 8)!,
                  retired: result.string(r, 9), retiredBy: result.string(r, 10), retireReason: result.string(r, 11))
        }
    }
}

/// Times leave the database as UTC ISO 8601 text with milliseconds, like the contract's.
enum SQLTime {
    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }
}
