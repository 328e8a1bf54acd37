import ControlSiteRecords
import Hashing
import POCareContract
import Foundation

/// Signing in: the password checked against its slow hash, failed attempts slowed by growing
/// waits (`SignInThrottle`), and every success, failure and throttled attempt in the Control
/// Site audit trail.
public enum SignIn {
    public struct Limits: Sendable, Equatable {
        /// Failed attempts allowed without a wait per user name, and per address, within `windowSeconds`.
        public var perUser = 5
        public var perAddress = 20
        /// Failures are counted over this window, which is also the longest wait.
        public var windowSeconds = 900.0
        /// The wait after the first failure beyond those allowed; it doubles with each further one.
        public var firstDelaySeconds = 2.0
        public init() {}
    }

    public enum Outcome: Sendable, Equatable {
        case signedIn(token: String, csrf: String, user: String)
        case refused
        /// Not checked: the password may be tried again after this many seconds.
        case throttled(retryAfterSeconds: Int)
    }

    public static func attempt(userName: String, password: String, address: String, limits: Limits,
                               on connection: PostgresConnection) throws -> Outcome {
        let name = String(userName.prefix(64))
        let verdict = try SignInThrottle.check(userName: name, address: address, limits: limits, on: connection)
        if verdict.waitSeconds > 0 {
            // Audited, but not counted as a failure: retrying too early never lengthens the wait.
            let retryAfter = Int(verdict.waitSeconds.rounded(.up))
            try connection.transaction {
                try ControlAuditTrail.append(ControlAuditAction(user: name, action: "web.sign_in.throttled", target: name,
                                                                reason: "\(verdict.reason); retry after \(retryAfter) s", newValue: address),
                                             to: connection)
            }
            return .throttled(retryAfterSeconds: retryAfter)
        }
        let user = try WebUsers.find(name, on: connection)
        // An unknown user costs as long as a wrong password, so the time does not tell which names exist.
        let matches = PasswordHash.verify(password, against: user?.passwordHash ?? unknownUserHash)
        guard let user, !user.disabled, matches else {
            let reason = user == nil ? "unknown user" : user!.disabled ? "user disabled" : "wrong password"
            try connection.transaction {
                try record(name, address, succeeded: false, action: "web.sign_in.failed", reason: reason, on: connection)
            }
            return .refused
        }
        return try connection.transaction {
            let session = try WebSessions.create(userName: user.userName, address: address, on: connection)
            try record(name, address, succeeded: true, action: "web.sign_in", reason: nil, on: connection)
            return .signedIn(token: session.token, csrf: session.csrf, user: user.userName)
        }
    }

    public static func signOut(token: String, userName: String, address: String, on connection: PostgresConnection) throws {
        try connection.transaction {
            try WebSessions.end(token: token, on: connection)
            try ControlAuditTrail.append(ControlAuditAction(user: userName, action: "web.sign_out", target: userName, newValue: address),
                                         to: connection)
        }
    }

    // An unknown user's password is checked against a real hash, so a refusal takes as long as for
    // a known user. `make` fails only for too few iterations (the default is enough); "" would
    // then only make that refusal faster, never sign anyone in.
    private static let unknownUserHash = (try? PasswordHash.make(PasswordHash.randomToken())) ?? ""

    private static func record(_ name: String, _ address: String, succeeded: Bool, action: String, reason: String?,
                               on connection: PostgresConnection) throws {
        // Inside the caller's transaction.
        try connection.execute("INSERT INTO web_login_attempts (user_name, address, succeeded) VALUES ($1, $2, $3)",
                               [name, address, succeeded ? "true" : "false"])
        try ControlAuditTrail.append(ControlAuditAction(user: name, action: action, target: name, reason: reason, newValue: address),
                                     to: connection)
    }
}
