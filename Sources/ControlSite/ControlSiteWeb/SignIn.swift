import ControlSiteRecords
import Hashing
import POCareContract
import Foundation

/// Signing in: the password checked against its slow hash, attempts limited per user and per
/// address over a window, and every success and failure in the Control Site audit trail.
public enum SignIn {
    public struct Limits: Sendable, Equatable {
        /// Failed attempts allowed per user name, and per address, within `windowSeconds`.
        public var perUser = 5
        public var perAddress = 20
        public var windowSeconds = 900.0
        public init() {}
    }

    public enum Outcome: Sendable, Equatable {
        case signedIn(token: String, csrf: String, user: String)
        case refused
        case throttled
    }

    public static func attempt(userName: String, password: String, address: String, limits: Limits,
                               on connection: PostgresConnection) throws -> Outcome {
        let name = String(userName.prefix(64))
        let recent = try connection.execute("""
            SELECT count(*) FILTER (WHERE user_name = $1), count(*) FILTER (WHERE address = $2)
            FROM web_login_attempts
            WHERE NOT succeeded AND time > now() - make_interval(secs => $3::float8)
            """, [name, address, String(limits.windowSeconds)])
        let userFailures = recent.int(0, 0) ?? 0, addressFailures = recent.int(0, 1) ?? 0
        if userFailures >= limits.perUser || addressFailures >= limits.perAddress {
            try connection.transaction {
                try record(name, address, succeeded: false, action: "web.sign_in.throttled",
                           reason: userFailures >= limits.perUser ? "too many failed attempts for this user" : "too many failed attempts from this address",
                           on: connection)
            }
            return .throttled
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
