import ControlSiteRecords
import POCareContract
import Foundation
import Hashing

/// Sessions of signed-in users. The cookie holds a random token; the database holds only its
/// SHA-256, with a CSRF token of the session's own that every form must send back. A session
/// ends when idle too long, when too old whatever its use, at sign-out, or when its user is
/// disabled or given a new password.
public enum WebSessions {
    public struct Session: Sendable, Equatable {
        public var userName: String
        public var fullName: String
        public var role: WebUsers.Role
        public var csrfToken: String
    }

    public struct Lifetime: Sendable, Equatable {
        public var idleSeconds: Double
        public var absoluteSeconds: Double
        public init(idleSeconds: Double, absoluteSeconds: Double) {
            self.idleSeconds = idleSeconds
            self.absoluteSeconds = absoluteSeconds
        }
    }

    /// Starts a session; returns the cookie's token and the CSRF token.
    static func create(userName: String, address: String, on connection: PostgresConnection) throws -> (token: String, csrf: String) {
        let token = PasswordHash.randomToken(), csrf = PasswordHash.randomToken()
        try connection.execute("""
            INSERT INTO web_sessions (token_hash, user_name, csrf_token, created, last_seen, address)
            VALUES ($1, $2, $3, now(), now(), $4)
            """, [SHA256.hex(token), userName, csrf, address])
        return (token, csrf)
    }

    /// The session of a cookie's token, if it is still alive; its idle clock restarts.
    public static func find(token: String, lifetime: Lifetime, on connection: PostgresConnection) throws -> Session? {
        guard token.count == 64, token.allSatisfy(\.isHexDigit) else { return nil }
        let key = SHA256.hex(token)
        // Expired sessions go as they are met, and with them any other expired ones.
        try connection.execute("""
            DELETE FROM web_sessions
            WHERE last_seen < now() - make_interval(secs => $1::float8) OR created < now() - make_interval(secs => $2::float8)
            """, [String(lifetime.idleSeconds), String(lifetime.absoluteSeconds)])
        let r = try connection.execute("""
            UPDATE web_sessions s SET last_seen = now()
            FROM web_users u
            WHERE s.token_hash = $1 AND u.user_name = s.user_name AND u.disabled IS NULL
            RETURNING u.user_name, u.full_name, u.role, s.csrf_token
            """, [key])
        guard r.rowCount == 1, let user = r.string(0, "user_name"), let full = r.string(0, "full_name"),
              let role = r.string(0, "role").flatMap(WebUsers.Role.init), let csrf = r.string(0, "csrf_token")
        else { return nil }
        return Session(userName: user, fullName: full, role: role, csrfToken: csrf)
    }

    static func end(token: String, on connection: PostgresConnection) throws {
        try connection.execute("DELETE FROM web_sessions WHERE token_hash = $1", [SHA256.hex(token)])
    }
}
