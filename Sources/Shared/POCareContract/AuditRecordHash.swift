import Hashing

/// The canonical form of one audit entry (`pocare-audit/1`), shared by the site's store, which
/// hashes each entry as it commits it, and the Control Site, which recomputes the hash of every
/// entry that arrives: one implementation, so the two can never disagree on a byte.
///
/// The form is a JSON array written by hand (`CanonicalJSON`: no spaces, strings escaped as
/// `"` `\\` `\n` `\r` `\t` and `\u00XX` for other control characters, everything else as UTF-8):
///
///     ["pocare-audit/1", seq, time_ns, user, action, target, reason, old_value, new_value, previous_hash]
///
/// with seq and time_ns as decimal integers and an absent reason or value as `null`.
public enum AuditRecordHash {
    public static func canonicalText(
        seq: Int64, timeNanoseconds: Int64, user: String, action: String, target: String, reason: String?, oldValue: String?,
        newValue: String?, previousHash: String
    ) -> String {
        CanonicalJSON.array([
            CanonicalJSON.string("pocare-audit/1"), String(seq), String(timeNanoseconds), CanonicalJSON.string(user),
            CanonicalJSON.string(action), CanonicalJSON.string(target), CanonicalJSON.optional(reason),
            CanonicalJSON.optional(oldValue), CanonicalJSON.optional(newValue), CanonicalJSON.string(previousHash),
        ])
    }

    public static func hash(
        seq: Int64, timeNanoseconds: Int64, user: String, action: String, target: String, reason: String?, oldValue: String?,
        newValue: String?, previousHash: String
    ) -> String {
        SHA256.hex(canonicalText(
            seq: seq, timeNanoseconds: timeNanoseconds, user: user, action: action, target: target, reason: reason,
            oldValue: oldValue, newValue: newValue, previousHash: previousHash))
    }
}
