import Foundation
import Hashing

/// A QA action at the Control Site, as it is to be recorded.
public struct ControlAuditAction: Sendable, Hashable, Codable {
    /// The Unix user who ran the command.
    public var user: String
    /// What was done, e.g. `spec.release`, `spec.retire`.
    public var action: String
    public var target: String
    public var reason: String?
    public var oldValue: String?
    public var newValue: String?

    public init(user: String, action: String, target: String, reason: String? = nil, oldValue: String? = nil, newValue: String? = nil) {
        self.user = user
        self.action = action
        self.target = target
        self.reason = reason
        self.oldValue = oldValue
        self.newValue = newValue
    }
}

/// The Control Site's audit trail: each entry's SHA-256 covers its content and the previous
/// entry's hash, so changing, removing or inserting an entry breaks the chain.
public enum ControlAuditTrail {
    public static let genesis = String(repeating: "0", count: 64)

    /// The exact text that is hashed (form `pocare-control-audit/1`).
    public static func canonicalText(seq: Int64, timeNanoseconds: Int64, action a: ControlAuditAction, previousHash: String) -> String {
        CanonicalJSON.array([
            CanonicalJSON.string("pocare-control-audit/1"), String(seq), String(timeNanoseconds), CanonicalJSON.string(a.user),
            CanonicalJSON.string(a.action), CanonicalJSON.string(a.target), CanonicalJSON.optional(a.reason),
            CanonicalJSON.optional(a.oldValue), CanonicalJSON.optional(a.newValue), CanonicalJSON.string(previousHash),
        ])
    }

    public static func hash(seq: Int64, timeNanoseconds: Int64, action: ControlAuditAction, previousHash: String) -> String {
        SHA256.hex(canonicalText(seq: seq, timeNanoseconds: timeNanoseconds, action: action, previousHash: previousHash))
    }

    /// Appends an entry inside the caller's transaction, so the action and its record commit together.
    @discardableResult
    public static func append(_ action: ControlAuditAction, to connection: PostgresConnection, at time: Date = Date()) throws -> Int64 {
        // One writer at a time: the next number and the previous hash must not race. A lock of its
        // own (not replay planning's), so audited actions never wait for a planning round.
        try connection.execute("SELECT pg_advisory_xact_lock(7146356)")
        let last = try connection.execute("SELECT seq, hash FROM control_audit ORDER BY seq DESC LIMIT 1")
        // seq and hash are NOT NULL in control_audit.
        let newest = try last.map { row in (seq: try row.requiredInt("seq"), hash: try row.requiredString("hash")) }.first
        let seq = (newest?.seq ?? 0) + 1
        let previous = newest?.hash ?? genesis
        let ns = Int64((time.timeIntervalSince1970 * 1e9).rounded())
        let hash = hash(seq: seq, timeNanoseconds: ns, action: action, previousHash: previous)
        try connection.execute("""
            INSERT INTO control_audit (seq, time_ns, user_name, action, target, reason, old_value, new_value, previous_hash, hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """, [String(seq), String(ns), action.user, action.action, action.target, action.reason, action.oldValue,
                  action.newValue, previous, hash])
        return seq
    }

    public struct Entry: Sendable, Codable, Equatable {
        public var seq: Int64
        public var timeNanoseconds: Int64
        public var action: ControlAuditAction
        public var previousHash: String
        public var hash: String
    }

    public static func entries(_ connection: PostgresConnection) throws -> [Entry] {
        try entries(connection.execute("""
            SELECT seq, time_ns, user_name, action, target, reason, old_value, new_value, previous_hash, hash
            FROM control_audit ORDER BY seq
            """))
    }

    /// The entries about one record (a change, a deviation), oldest first: its history.
    public static func entries(target: String, on connection: PostgresConnection) throws -> [Entry] {
        try entries(connection.execute("""
            SELECT seq, time_ns, user_name, action, target, reason, old_value, new_value, previous_hash, hash
            FROM control_audit WHERE target = $1 ORDER BY seq
            """, [target]))
    }

    /// Every column read as required is NOT NULL in control_audit.
    static func entries(_ result: PostgresResult) throws -> [Entry] {
        try result.map { row in
            Entry(seq: try row.requiredInt("seq"), timeNanoseconds: try row.requiredInt("time_ns"),
                  action: ControlAuditAction(user: try row.requiredString("user_name"), action: try row.requiredString("action"),
                                             target: try row.requiredString("target"), reason: row.string("reason"),
                                             oldValue: row.string("old_value"), newValue: row.string("new_value")),
                  previousHash: try row.requiredString("previous_hash"), hash: try row.requiredString("hash"))
        }
    }

    /// The first entry whose number, link or hash is not what the chain requires; nil if intact.
    public static func firstBroken(_ entries: [Entry]) -> (seq: Int64, reason: String)? {
        var previous = genesis
        for (index, entry) in entries.enumerated() {
            if entry.seq != Int64(index) + 1 { return (entry.seq, "expected entry \(index + 1): an entry was removed or inserted") }
            if entry.previousHash != previous { return (entry.seq, "does not link to the entry before it") }
            if hash(seq: entry.seq, timeNanoseconds: entry.timeNanoseconds, action: entry.action, previousHash: entry.previousHash) != entry.hash {
                return (entry.seq, "its content does not match its hash: the entry was changed")
            }
            previous = entry.hash
        }
        return nil
    }
}
