import ControlSiteRecords
import Foundation
import Hashing

/// The person behind a quality-system action: a Control Site user with a role that may take it,
/// who entered their password with it (21 CFR 11.200(a)(1)(i): every signing uses a component
/// known only to the signer). Every refusal is written to the audit trail.
public enum Signer {
    /// Roles that take quality decisions: QA, and the QP (who is part of QA).
    public static let qualityRoles: Set<WebUsers.Role> = [.qa, .qp]

    /// The user, once their password is checked and their role allows `action`. With a
    /// `throttle` (the web), wrong passwords count toward it and a throttled user waits.
    public static func authenticate(
        userName: String, password: String, roles: Set<WebUsers.Role>, action: String, target: String, purpose: String? = nil,
        throttle: (any PasswordThrottle)? = nil, on connection: PostgresConnection
    ) throws -> WebUsers.User {
        try checkThrottle(throttle, userName: userName, action: action, target: target, on: connection)
        guard let user = try WebUsers.find(userName, on: connection), !user.disabled else {
            let refusal = QualityRefusal(.notAuthenticated, "the user name or the password is not correct; nothing was done")
            try refuseWrongPassword(refusal, throttle: throttle, userName: userName, action: action, target: target, on: connection)
        }
        guard PasswordHash.verify(password, against: user.passwordHash) else {
            let refusal = QualityRefusal(.notAuthenticated, "the password is not correct; nothing was done")
            try refuseWrongPassword(refusal, throttle: throttle, userName: userName, action: action, target: target, on: connection)
        }
        try connection.transaction { try throttle?.count(userName: user.userName, succeeded: true, on: connection) }
        guard roles.contains(user.role) else {
            let refusal = QualityRefusal(.notPermitted, "the role \(user.role.rawValue) may not \(purpose ?? Self.words(action))")
            try recordRefusal(refusal, user: userName, action: action, target: target, on: connection)
            throw refusal
        }
        return user
    }

    /// Refuses (and audits) an action by a signed-in user whose role does not allow it.
    public static func require(_ actor: WebUsers.User, roles: Set<WebUsers.Role>, action: String, target: String,
                               on connection: PostgresConnection) throws {
        guard !actor.disabled, roles.contains(actor.role) else {
            let refusal = QualityRefusal(.notPermitted, actor.disabled ? "the user is disabled"
                                         : "the role \(actor.role.rawValue) may not \(Self.words(action))")
            try recordRefusal(refusal, user: actor.userName, action: action, target: target, on: connection)
            throw refusal
        }
    }

    /// Runs `body` in a transaction; a refusal rolls it back and is then audited in a
    /// transaction of its own, so the attempt is on record although nothing changed.
    public static func attempt<T>(
        user: String, action: String, target: String, on connection: PostgresConnection, _ body: () throws -> T
    ) throws -> T {
        do {
            return try connection.transaction(body)
        } catch let refusal as QualityRefusal {
            try recordRefusal(refusal, user: user, action: action, target: target, on: connection)
            throw refusal
        } catch let error as PostgresError where error.sqlState == "P0001" {
            // A rule of the database itself (a trigger) refused: the same, said by the server.
            let refusal = QualityRefusal(.stateConflict, error.message.components(separatedBy: " (in:").first ?? error.message)
            try recordRefusal(refusal, user: user, action: action, target: target, on: connection)
            throw refusal
        }
    }

    /// An entry `ACTION.refused` with the reason, in a transaction of its own.
    public static func recordRefusal(_ refusal: QualityRefusal, user: String, action: String, target: String,
                                     on connection: PostgresConnection) throws {
        try connection.transaction {
            try ControlAuditTrail.append(ControlAuditAction(
                user: String(user.prefix(64)), action: action + ".refused", target: target, reason: refusal.auditReason), to: connection)
        }
    }

    static func words(_ action: String) -> String {
        action.replacingOccurrences(of: ".", with: " ").replacingOccurrences(of: "_", with: " ")
    }
}
