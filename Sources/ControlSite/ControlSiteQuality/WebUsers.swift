import ControlSiteRecords
import Hashing
import POCareContract
import Foundation

/// Who may use the web pages, and as what. Passwords are kept only as slow salted hashes;
/// every change is in the Control Site audit trail, with the Unix user who made it.
public enum WebUsers {
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Reads every page; signs nothing.
        case viewer
        /// Quality assurance: reviews and signs batch records.
        case qa
        /// Qualified person: signs, including approval for release.
        case qp

        public var maySign: Bool { self != .viewer }
    }

    public struct User: Sendable, Equatable {
        public var userName: String
        public var fullName: String
        public var role: Role
        public var passwordHash: String
        public var disabled: Bool
    }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public static let minimumPasswordLength = 10

    public static func validateUserName(_ name: String) throws(Refusal) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard (1...64).contains(name.count), name.allSatisfy(allowed.contains) else {
            throw Refusal("user name '\(name)': 1 to 64 of a-z, 0-9, '.', '_', '-'")
        }
    }

    static func validatePassword(_ password: String) throws(Refusal) {
        guard password.count >= minimumPasswordLength else {
            throw Refusal("the password must have at least \(minimumPasswordLength) characters")
        }
        guard password.utf8.count <= 1024 else { throw Refusal("the password is longer than 1024 bytes") }
    }

    public static func add(userName: String, fullName: String, role: Role, password: String, iterations: Int = PasswordHash.defaultIterations,
                           by actor: String, on connection: PostgresConnection) throws {
        try validateUserName(userName)
        let name = fullName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw Refusal("the full name must have 1 to 200 characters") }
        try validatePassword(password)
        let hash = try PasswordHash.make(password, iterations: iterations)
        try connection.transaction {
            let existing = try connection.execute("SELECT 1 FROM web_users WHERE user_name = $1 FOR UPDATE", [userName])
            guard existing.rowCount == 0 else { throw Refusal("user \(userName) exists already") }
            try connection.execute("INSERT INTO web_users (user_name, full_name, role, password_hash) VALUES ($1, $2, $3, $4)",
                                   [userName, name, role.rawValue, hash])
            try ControlAuditTrail.append(ControlAuditAction(
                user: actor, action: "web.user.add", target: userName, newValue: "\(name), role \(role.rawValue)"), to: connection)
        }
    }

    public static func disable(userName: String, reason: String, by actor: String, on connection: PostgresConnection) throws {
        try connection.transaction {
            let row = try connection.execute("SELECT disabled FROM web_users WHERE user_name = $1 FOR UPDATE", [userName])
            guard row.rowCount == 1 else { throw Refusal("no user \(userName)") }
            guard row.string(0, "disabled") == nil else { throw Refusal("user \(userName) is disabled already") }
            try connection.execute("UPDATE web_users SET disabled = now() WHERE user_name = $1", [userName])
            try connection.execute("DELETE FROM web_sessions WHERE user_name = $1", [userName])
            try ControlAuditTrail.append(ControlAuditAction(
                user: actor, action: "web.user.disable", target: userName, reason: reason, oldValue: "enabled", newValue: "disabled"),
                to: connection)
        }
    }

    /// Sets a new password and ends the user's sessions.
    public static func setPassword(userName: String, password: String, iterations: Int = PasswordHash.defaultIterations,
                                   by actor: String, on connection: PostgresConnection) throws {
        try validatePassword(password)
        let hash = try PasswordHash.make(password, iterations: iterations)
        try connection.transaction {
            let updated = try connection.execute(
                "UPDATE web_users SET password_hash = $2, password_set = now() WHERE user_name = $1", [userName, hash])
            guard updated.affectedRows == 1 else { throw Refusal("no user \(userName)") }
            try connection.execute("DELETE FROM web_sessions WHERE user_name = $1", [userName])
            try ControlAuditTrail.append(ControlAuditAction(user: actor, action: "web.user.passwd", target: userName), to: connection)
        }
    }

    public static func find(_ userName: String, on connection: PostgresConnection) throws -> User? {
        let r = try connection.execute(
            "SELECT user_name, full_name, role, password_hash, disabled IS NOT NULL AS is_disabled FROM web_users WHERE user_name = $1",
            [userName])
        guard r.rowCount == 1, let name = r.string(0, "user_name"), let full = r.string(0, "full_name"),
              let role = r.string(0, "role").flatMap(Role.init), let hash = r.string(0, "password_hash")
        else { return nil }
        return User(userName: name, fullName: full, role: role, passwordHash: hash, disabled: r.bool(0, "is_disabled") ?? true)
    }
}
