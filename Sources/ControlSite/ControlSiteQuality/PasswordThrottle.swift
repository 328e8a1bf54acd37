import ControlSiteRecords

/// Where a password re-entered to sign was typed, and the throttle its failures count toward:
/// the web's, shared with sign-in (per user and per address, growing waits, never a lock). A
/// wrong password at signing is a guess like a wrong one at sign-in; without the throttle a
/// stolen session could guess the signer's password without limit. The command line passes
/// none: its operator is authenticated by the operating system and the database.
public protocol PasswordThrottle: Sendable {
    /// The address the password came from, as the audit trail names it.
    var address: String { get }
    /// Seconds before a password for `userName` from this address is checked again (0: now), and
    /// which count imposes the wait.
    func wait(userName: String, on connection: PostgresConnection) throws -> (seconds: Int, reason: String)
    /// Counts one password checked at signing (inside the caller's transaction).
    func count(userName: String, succeeded: Bool, on connection: PostgresConnection) throws
}

extension Signer {
    /// Refuses, before the password is checked, while the throttle makes this user wait here; the
    /// attempt is audited (`ACTION.throttled`) but not counted, so trying early never lengthens it.
    static func checkThrottle(_ throttle: (any PasswordThrottle)?, userName: String, action: String, target: String,
                              on connection: PostgresConnection) throws {
        guard let throttle else { return }
        let wait = try throttle.wait(userName: userName, on: connection)
        guard wait.seconds > 0 else { return }
        _ = try connection.transaction {
            try ControlAuditTrail.append(ControlAuditAction(
                user: String(userName.prefix(64)), action: action + ".throttled", target: target,
                reason: "\(wait.reason); retry after \(wait.seconds) s", newValue: throttle.address), to: connection)
        }
        throw QualityRefusal(
            .throttled, "too many wrong passwords lately (\(wait.reason)); try again in \(wait.seconds) s. Nothing was signed.",
            retryAfterSeconds: wait.seconds)
    }

    /// A wrong password (or a user who cannot sign) at signing: counted toward the throttle and
    /// audited as `ACTION.refused` naming the user, the address and what was being signed.
    static func refuseWrongPassword(_ refusal: QualityRefusal, throttle: (any PasswordThrottle)?, userName: String, action: String,
                                    target: String, on connection: PostgresConnection) throws -> Never {
        try connection.transaction {
            try throttle?.count(userName: String(userName.prefix(64)), succeeded: false, on: connection)
            try ControlAuditTrail.append(ControlAuditAction(
                user: String(userName.prefix(64)), action: action + ".refused", target: target, reason: refusal.auditReason,
                newValue: throttle.map { "from \($0.address)" }), to: connection)
        }
        throw refusal
    }
}
