import Foundation
import POCareCore

/// QA's register of released IPC specs, by fingerprint. Entries are made only by approved
/// changes (change control), each audited in the same transaction.
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
        /// The approved changes that released and retired it (CC-numbers).
        public var releaseChange: Int64?
        public var retireChange: Int64?
        /// The equipment models (profile ids) the spec is written for.
        public var profiles: [String] = []
        public var status: String { retired == nil ? "released" : "retired" }
    }

    /// Enters a released spec, inside the caller's transaction: the approval of change
    /// `change` (change control decides; this only records the decision).
    public static func enterRelease(
        fingerprint: String, product: String, document: String, version: String, approvedBy: String, approvalDate: String, text: String,
        profiles: [String], reason: String, user: String, change: Int64, on connection: PostgresConnection
    ) throws {
        let existing = try connection.execute("SELECT retired FROM released_specs WHERE fingerprint = $1 FOR UPDATE", [fingerprint])
        if existing.rowCount > 0 {
            throw Refusal(description: existing.string(0, "retired") == nil
                ? "\(fingerprint) is already released"
                : "\(fingerprint) was retired; a retired spec is not released again (release a new version)")
        }
        try connection.execute("""
            INSERT INTO released_specs (fingerprint, product, document, version, approved_by, approval_date, spec_text,
                                        released, released_by, release_reason, release_change, profiles)
            VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9, $10, $11::text[])
            """, [fingerprint, product, document, version, approvedBy, approvalDate, text, user, reason, String(change),
                  PostgresArray.text(profiles)])
        try ControlAuditTrail.append(ControlAuditAction(
            user: user, action: "spec.release", target: fingerprint, reason: "CC-\(change): \(reason)", oldValue: nil,
            newValue: "\(document) version \(version)"), to: connection)
    }

    /// Retires a released spec, inside the caller's transaction (the approval of change `change`).
    public static func enterRetirement(_ fingerprint: String, reason: String, user: String, change: Int64, on connection: PostgresConnection) throws {
        let row = try connection.execute("SELECT retired FROM released_specs WHERE fingerprint = $1 FOR UPDATE", [fingerprint])
        guard row.rowCount == 1 else { throw Refusal(description: "no released spec has fingerprint \(fingerprint)") }
        guard row.string(0, "retired") == nil else { throw Refusal(description: "\(fingerprint) is already retired") }
        try connection.execute("""
            UPDATE released_specs SET retired = now(), retired_by = $2, retire_reason = $3, retire_change = $4 WHERE fingerprint = $1
            """, [fingerprint, user, reason, String(change)])
        try ControlAuditTrail.append(ControlAuditAction(
            user: user, action: "spec.retire", target: fingerprint, reason: "CC-\(change): \(reason)", oldValue: "released", newValue: "retired"),
            to: connection)
    }

    /// The full fingerprint of a released or retired spec named by its full fingerprint or its
    /// first 12 or more hex digits, unambiguous: no command acts on a guess.
    public static func resolve(_ fingerprint: String, on connection: PostgresConnection) throws -> String {
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
        // fingerprint is the key of released_specs: never NULL.
        guard let match = matches.string(0, "fingerprint") else { throw Refusal(description: "no released spec has fingerprint \(fingerprint)") }
        return match
    }

    public static func list(on connection: PostgresConnection) throws -> [Entry] {
        let result = try connection.execute("""
            SELECT fingerprint, product, document, version, approved_by, approval_date, \(SQLTime.iso("released")) AS released_utc,
                   released_by, release_reason, \(SQLTime.iso("retired")) AS retired_utc, retired_by, retire_reason, release_change,
                   retire_change, array_to_string(coalesce(profiles, '{}'), ',') AS profile_list
            FROM released_specs ORDER BY released
            """)
        // Every column read as required is NOT NULL in released_specs.
        return try result.map { row in
            Entry(fingerprint: try row.requiredString("fingerprint"), product: try row.requiredString("product"),
                  document: try row.requiredString("document"), version: try row.requiredString("version"),
                  approvedBy: try row.requiredString("approved_by"), approvalDate: try row.requiredString("approval_date"),
                  released: try row.requiredString("released_utc"), releasedBy: try row.requiredString("released_by"),
                  releaseReason: try row.requiredString("release_reason"), retired: row.string("retired_utc"), retiredBy: row.string("retired_by"),
                  retireReason: row.string("retire_reason"), releaseChange: row.int("release_change"), retireChange: row.int("retire_change"),
                  profiles: (row.string("profile_list") ?? "").split(separator: ",").map(String.init))
        }
    }
}

/// Times leave the database as UTC ISO 8601 text with milliseconds, like the contract's.
enum SQLTime {
    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }
}

/// A PostgreSQL array literal of text values, for `$n::text[]` parameters.
public enum PostgresArray {
    public static func text(_ values: [String]) -> String {
        // Written a byte at a time: ingest writes one for every minute of every stream, and
        // Foundation's replacing took more than the rest of the row.
        var text: [UInt8] = [0x7B]
        text.reserveCapacity(2 + values.reduce(0) { $0 + $1.utf8.count + 3 })
        for (i, value) in values.enumerated() {
            if i > 0 { text.append(0x2C) }
            text.append(0x22)
            for byte in value.utf8 {
                if byte == 0x5C || byte == 0x22 { text.append(0x5C) }  // a backslash or a quote is escaped
                text.append(byte)
            }
            text.append(0x22)
        }
        text.append(0x7D)
        return String(decoding: text, as: UTF8.self)
    }
}
