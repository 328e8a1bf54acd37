import Foundation
import Hashing
import POCareContract

/// An operator or configuration action, as it is to be recorded.
public struct AuditAction: Sendable, Hashable {
    /// The Unix user who did it (from the control socket's peer credentials, or the daemon's own user).
    public var user: String
    /// What was done, e.g. `alarm.acknowledge`, `batch.start`, `config.load`.
    public var action: String
    /// What it was done to, e.g. an alarm id, a device, a configuration file.
    public var target: String
    public var reason: String?
    public var oldValue: String?
    public var newValue: String?

    public init(user: String, action: String, target: String, reason: String? = nil, oldValue: String? = nil,
                newValue: String? = nil) {
        self.user = user
        self.action = action
        self.target = target
        self.reason = reason
        self.oldValue = oldValue
        self.newValue = newValue
    }
}

/// One entry of the append-only audit trail. Each entry's hash covers its content and the
/// previous entry's hash, so changing, removing or inserting an entry breaks the chain.
public struct AuditEntry: Sendable, Hashable {
    public var seq: Int64
    public var time: Date
    public var timeNanoseconds: Int64
    public var action: AuditAction
    public var previousHash: String
    public var hash: String

    public static let genesisHash = String(repeating: "0", count: 64)

    public init(seq: Int64, time: Date, timeNanoseconds: Int64, action: AuditAction, previousHash: String, hash: String) {
        self.seq = seq
        self.time = time
        self.timeNanoseconds = timeNanoseconds
        self.action = action
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The exact text that is hashed (form `pocare-audit/1`, `AuditRecordHash`).
    public static func canonicalText(seq: Int64, timeNanoseconds: Int64, action a: AuditAction, previousHash: String) -> String {
        AuditRecordHash.canonicalText(
            seq: seq, timeNanoseconds: timeNanoseconds, user: a.user, action: a.action, target: a.target, reason: a.reason,
            oldValue: a.oldValue, newValue: a.newValue, previousHash: previousHash)
    }

    public static func hash(seq: Int64, timeNanoseconds: Int64, action: AuditAction, previousHash: String) -> String {
        SHA256.hex(canonicalText(seq: seq, timeNanoseconds: timeNanoseconds, action: action, previousHash: previousHash))
    }

    var contentMatchesHash: Bool {
        Self.hash(seq: seq, timeNanoseconds: timeNanoseconds, action: action, previousHash: previousHash) == hash
    }
}

/// The result of walking the audit chain.
public struct AuditVerification: Sendable {
    public var entries: Int
    public var lastHash: String
    /// Every break found, first one first, each naming the entry.
    public var problems: [String]
    public var isIntact: Bool { problems.isEmpty }
}

public enum AuditChain {
    /// Walks the entries in sequence order. `recordedLast` is the last sequence number the
    /// store itself wrote, which reveals entries removed from or appended to the end.
    public static func verify(_ entries: [AuditEntry], recordedLast: Int64) -> AuditVerification {
        var problems: [String] = []
        var previousHash = AuditEntry.genesisHash
        var expected: Int64 = 1
        for entry in entries {
            if entry.seq > expected {
                problems.append(expected == entry.seq - 1
                    ? "entry \(expected) was removed" : "entries \(expected)...\(entry.seq - 1) were removed")
            }
            if entry.seq > recordedLast {
                problems.append("entry \(entry.seq) was inserted: the store wrote only up to entry \(recordedLast)")
            } else if !entry.contentMatchesHash {
                problems.append("entry \(entry.seq) was changed: its content does not match its hash")
            } else if entry.previousHash != previousHash && entry.seq == expected {
                problems.append("entry \(entry.seq) does not chain to entry \(entry.seq - 1): entry \(entry.seq) or the one before it was replaced")
            }
            previousHash = entry.hash
            expected = entry.seq + 1
        }
        if expected - 1 < recordedLast {
            problems.append(expected == recordedLast
                ? "entry \(recordedLast) was removed" : "entries \(expected)...\(recordedLast) were removed")
        }
        return AuditVerification(entries: entries.count, lastHash: previousHash, problems: problems)
    }
}
