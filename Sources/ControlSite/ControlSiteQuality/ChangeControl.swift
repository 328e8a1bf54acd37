import ControlSiteRecords
import Foundation
import Hashing

/// Change control: a change to the released-spec register or the POC Master File is proposed
/// by one person and takes effect only when a second person with a QA role approves it,
/// re-entering their password, against the content hash they were shown. The requester never
/// approves or rejects their own change (the database refuses it too); they may withdraw it.
public enum ChangeControl {
    public struct Record: Sendable, Encodable, Equatable {
        public var id: Int64
        public var reference: String { "CC-\(id)" }
        public var kind: String
        public var site: String?
        public var target: String
        public var summary: String
        public var payload: String
        public var reason: String
        public var contentHash: String
        public var state: String
        public var requestedBy: String
        public var requestedFullName: String
        public var requested: String
        public var decidedBy: String?
        public var decidedFullName: String?
        public var decided: String?
        public var decisionComment: String?
        public var effective: String?

        enum CodingKeys: String, CodingKey {
            case id, reference, kind, site, target, summary, payload, reason, contentHash, state, requestedBy, requestedFullName, requested,
                 decidedBy, decidedFullName, decided, decisionComment, effective
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(reference, forKey: .reference)
            try c.encode(kind, forKey: .kind)
            try c.encodeIfPresent(site, forKey: .site)
            try c.encode(target, forKey: .target)
            try c.encode(summary, forKey: .summary)
            try c.encode(payload, forKey: .payload)
            try c.encode(reason, forKey: .reason)
            try c.encode(contentHash, forKey: .contentHash)
            try c.encode(state, forKey: .state)
            try c.encode(requestedBy, forKey: .requestedBy)
            try c.encode(requestedFullName, forKey: .requestedFullName)
            try c.encode(requested, forKey: .requested)
            try c.encodeIfPresent(decidedBy, forKey: .decidedBy)
            try c.encodeIfPresent(decidedFullName, forKey: .decidedFullName)
            try c.encodeIfPresent(decided, forKey: .decided)
            try c.encodeIfPresent(decisionComment, forKey: .decisionComment)
            try c.encodeIfPresent(effective, forKey: .effective)
        }
    }

    public enum Decision: String, Sendable, CaseIterable {
        case approve, reject
    }

    /// `CC-12` or `12`.
    public static func parseReference(_ text: String) throws(QualityRefusal) -> Int64 {
        let digits = text.uppercased().hasPrefix("CC-") ? String(text.dropFirst(3)) : text
        guard let id = Int64(digits), id > 0 else { throw QualityRefusal(.invalidInput, "'\(text)' is not a change (CC-number)") }
        return id
    }

    /// Proposes a change; nothing changes until another person approves it.
    public static func request(_ content: ChangeContent, reason: String, by user: WebUsers.User,
                               on connection: PostgresConnection) throws -> Record {
        let target = "\(content.kind) \(content.site.map { "\($0)/" } ?? "")\(content.target)"
        let reason = try FreeText.required(reason, "the reason")
        try Signer.require(user, roles: Signer.qualityRoles, action: "change.request", target: target, on: connection)
        return try Signer.attempt(user: user.userName, action: "change.request", target: target, on: connection) {
            try ChangeApplication.validate(content, on: connection)
            let open = try connection.execute("""
                SELECT id FROM changes WHERE state = 'proposed' AND kind = $1 AND coalesce(site, '') = $2 AND target = $3
                """, [content.kind, content.site ?? "", content.target])
            if let id = open.int(0, "id") {
                throw QualityRefusal(.stateConflict, "CC-\(id) already proposes a \(content.kind) of \(content.target); decide or withdraw it first")
            }
            let payload = try connection.execute("SELECT $1::jsonb::text AS payload", [try content.payload()]).string(0, "payload") ?? "{}"
            let hash = contentHash(kind: content.kind, site: content.site, target: content.target, summary: content.summary,
                                   payload: payload, reason: reason, requestedBy: user.userName)
            let row = try connection.execute("""
                INSERT INTO changes (kind, site, target, summary, payload, reason, content_hash, requested_by, requested_full_name)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) RETURNING id
                """, [content.kind, content.site, content.target, content.summary, payload, reason, hash, user.userName, user.fullName])
            let id = row.int(0, "id") ?? 0
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "change.request", target: "CC-\(id)", reason: reason, newValue: content.summary), to: connection)
            guard let record = try find(id, on: connection) else { throw QualityRefusal(.notFound, "CC-\(id) vanished") }
            return record
        }
    }

    /// Approves (making the change effective in the same transaction) or rejects a proposed
    /// change. `shownHash` is the content hash on the page or command output the decider read.
    @discardableResult
    public static func decide(_ id: Int64, _ decision: Decision, shownHash: String, comment: String, userName: String, password: String,
                              settings: QualitySettings = QualitySettings(), throttle: (any PasswordThrottle)? = nil,
                              on connection: PostgresConnection) throws -> Record {
        let action = "change.\(decision.rawValue)"
        let comment = try FreeText.optional(comment, "the comment")
        let user = try Signer.authenticate(userName: userName, password: password, roles: Signer.qualityRoles, action: action,
                                           target: "CC-\(id)", throttle: throttle, on: connection)
        return try Signer.attempt(user: user.userName, action: action, target: "CC-\(id)", on: connection) {
            guard let change = try lock(id, on: connection) else { throw QualityRefusal(.notFound, "no change CC-\(id)") }
            guard change.state == "proposed" else { throw QualityRefusal(.stateConflict, "CC-\(id) is \(change.state) already") }
            guard change.requestedBy != user.userName else {
                throw QualityRefusal(.notPermitted, "you requested CC-\(id); a second person approves or rejects it")
            }
            try checkContent(change, shownHash: shownHash)
            if decision == .approve {
                let content = try ChangeContent.decode(kind: change.kind, payload: change.payload)
                try ChangeApplication.validate(content, on: connection)
                try ChangeApplication.apply(content, change: change, approver: user, settings: settings, on: connection)
            }
            try connection.execute("""
                UPDATE changes SET state = $2, decided_by = $3, decided_full_name = $4, decided = now(), decision_comment = $5,
                    effective = CASE WHEN $2 = 'approved' THEN now() END
                WHERE id = $1
                """, [String(id), decision == .approve ? "approved" : "rejected", user.userName, user.fullName, comment.isEmpty ? nil : comment])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: action, target: "CC-\(id)", reason: comment.isEmpty ? nil : comment, oldValue: "proposed",
                newValue: "\(decision == .approve ? "approved" : "rejected") by \(user.fullName) (\(user.role.rawValue)), content sha256:\(change.contentHash)"),
                to: connection)
            return try written(id, on: connection)
        }
    }

    /// The requester takes back a change nobody has decided yet.
    @discardableResult
    public static func withdraw(_ id: Int64, reason: String, by user: WebUsers.User, on connection: PostgresConnection) throws -> Record {
        let reason = try FreeText.required(reason, "the reason")
        try Signer.require(user, roles: Signer.qualityRoles, action: "change.withdraw", target: "CC-\(id)", on: connection)
        return try Signer.attempt(user: user.userName, action: "change.withdraw", target: "CC-\(id)", on: connection) {
            guard let change = try lock(id, on: connection) else { throw QualityRefusal(.notFound, "no change CC-\(id)") }
            guard change.state == "proposed" else { throw QualityRefusal(.stateConflict, "CC-\(id) is \(change.state) already") }
            guard change.requestedBy == user.userName else { throw QualityRefusal(.notPermitted, "only the requester withdraws CC-\(id)") }
            try connection.execute("""
                UPDATE changes SET state = 'withdrawn', decided_by = $2, decided_full_name = $3, decided = now(), decision_comment = $4
                WHERE id = $1
                """, [String(id), user.userName, user.fullName, reason])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "change.withdraw", target: "CC-\(id)", reason: reason, oldValue: "proposed", newValue: "withdrawn"),
                to: connection)
            return try written(id, on: connection)
        }
    }

    /// The content must be what the decider was shown, and what was requested.
    static func checkContent(_ change: Record, shownHash: String) throws(QualityRefusal) {
        let recomputed = contentHash(kind: change.kind, site: change.site, target: change.target, summary: change.summary,
                                     payload: change.payload, reason: change.reason, requestedBy: change.requestedBy)
        guard recomputed == change.contentHash else {
            throw QualityRefusal(.recordChanged, "CC-\(change.id) does not hash to the content it was requested with; it was altered")
        }
        guard HashPrefix.names(change.contentHash, shownHash) else {
            throw QualityRefusal(.recordChanged, "the record changed since you opened it: CC-\(change.id) now has content sha256:\(change.contentHash.prefix(12))")
        }
    }

    /// SHA-256 over the change's content in one canonical form (`pocare-change/1`).
    public static func contentHash(kind: String, site: String?, target: String, summary: String, payload: String, reason: String,
                                   requestedBy: String) -> String {
        SHA256.hex(CanonicalJSON.array([
            CanonicalJSON.string("pocare-change/1"), CanonicalJSON.string(kind), CanonicalJSON.optional(site), CanonicalJSON.string(target),
            CanonicalJSON.string(summary), CanonicalJSON.string(payload), CanonicalJSON.string(reason), CanonicalJSON.string(requestedBy),
        ]))
    }

    static let columns = """
        id, kind, site, target, summary, payload::text AS payload, reason, content_hash, state, requested_by, requested_full_name,
        \(Times.iso("requested")) AS requested_utc, decided_by, decided_full_name, \(Times.iso("decided")) AS decided_utc, decision_comment,
        \(Times.iso("effective")) AS effective_utc
        """

    /// The record this transaction has just written or changed: read back, or a refusal that
    /// rolls the transaction back should it not be there.
    static func written(_ id: Int64, on connection: PostgresConnection) throws -> Record {
        guard let record = try find(id, on: connection) else {
            throw QualityRefusal(.notFound, "CC-\(id) could not be read back after it was written")
        }
        return record
    }

    public static func find(_ id: Int64, on connection: PostgresConnection) throws -> Record? {
        try records(connection.execute("SELECT \(columns) FROM changes WHERE id = $1", [String(id)])).first
    }

    static func lock(_ id: Int64, on connection: PostgresConnection) throws -> Record? {
        try records(connection.execute("SELECT \(columns) FROM changes WHERE id = $1 FOR UPDATE", [String(id)])).first
    }

    /// Changes, newest first, by state and site.
    public static func list(state: String? = nil, site: String? = nil, limit: Int = 500, on connection: PostgresConnection) throws -> [Record] {
        try records(connection.execute("""
            SELECT \(columns) FROM changes WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR site = $2)
            ORDER BY id DESC LIMIT $3
            """, [state, site, String(limit)]))
    }

    static func records(_ r: PostgresResult) -> [Record] {
        r.map { row in
            Record(id: row.int("id") ?? 0, kind: row.string("kind") ?? "", site: row.string("site"), target: row.string("target") ?? "",
                   summary: row.string("summary") ?? "", payload: row.string("payload") ?? "{}", reason: row.string("reason") ?? "",
                   contentHash: row.string("content_hash") ?? "", state: row.string("state") ?? "", requestedBy: row.string("requested_by") ?? "",
                   requestedFullName: row.string("requested_full_name") ?? "", requested: row.string("requested_utc") ?? "",
                   decidedBy: row.string("decided_by"), decidedFullName: row.string("decided_full_name"), decided: row.string("decided_utc"),
                   decisionComment: row.string("decision_comment"), effective: row.string("effective_utc"))
        }
    }
}

/// Times leave the database as UTC ISO 8601 text with milliseconds, like the contract's.
enum Times {
    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }
}

/// A hash as a person names it: all of it, or at least its first 12 hex digits.
public enum HashPrefix {
    public static func names(_ hash: String, _ shown: String) -> Bool {
        let shown = shown.hasPrefix("sha256:") ? String(shown.dropFirst(7)) : shown
        return shown.count >= 12 && shown.count <= hash.count && hash.hasPrefix(shown.lowercased())
    }
}
