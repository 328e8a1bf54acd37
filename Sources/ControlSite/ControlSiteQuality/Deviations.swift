import ControlSiteRecords
import Foundation
import Hashing

/// Deviations: what went wrong, where, linked to its evidence and batches; classified and
/// investigated by QA and closed with QA's e-signature. States move forward only:
/// open -> under investigation -> closed (the database refuses anything else, and any change
/// to a closed deviation).
public enum Deviations {
    public enum Classification: String, Sendable, Codable, CaseIterable {
        case minor, major, critical
    }

    public struct Evidence: Sendable, Codable, Equatable {
        public var key: String
        public var kind: String
        public var time: String?
        public var detail: String
        /// The page that shows the evidence (a batch, a site's integrity findings).
        public var link: String?
    }

    public struct Record: Sendable, Codable, Equatable {
        public var id: Int64
        public var reference: String { "DEV-\(id)" }
        public var site: String
        public var source: String
        public var title: String
        public var description: String
        public var classification: String?
        public var investigation: String
        public var rootCause: String
        public var capa: String
        public var state: String
        public var version: Int64
        public var opened: String
        public var openedBy: String
        public var closed: String?
        public var closedBy: String?
        public var closedFullName: String?
        public var closeComment: String?
        public var closedHash: String?
        public var batches: [String] = []
        public var evidence: [Evidence] = []

        public var isOpen: Bool { state != "closed" }
        public var stateWords: String { state.replacingOccurrences(of: "_", with: " ") }
    }

    /// `DEV-7` or `7`.
    public static func parseReference(_ text: String) throws(QualityRefusal) -> Int64 {
        let digits = text.uppercased().hasPrefix("DEV-") ? String(text.dropFirst(4)) : text
        guard let id = Int64(digits), id > 0 else { throw QualityRefusal(.invalidInput, "'\(text.prefix(40))' is not a deviation (DEV-number)") }
        return id
    }

    /// QA opens a deviation by hand.
    @discardableResult
    public static func open(site: String, batches: [String], title: String, description: String, by actor: WebUsers.User,
                            on connection: PostgresConnection) throws -> Record {
        let target = "site \(site)"
        try Signer.require(actor, roles: Signer.qualityRoles, action: "deviation.open", target: target, on: connection)
        return try Signer.attempt(user: actor.userName, action: "deviation.open", target: target, on: connection) {
            try Identifier.check(site, "the site")
            let title = try FreeText.required(title, "the title", limit: 200)
            let description = try FreeText.required(description, "the description")
            for batch in batches { _ = try FreeText.required(batch, "a batch id", limit: 200) }
            let row = try connection.execute("""
                INSERT INTO deviations (site, source, title, description, opened_by) VALUES ($1, 'manual', $2, $3, $4) RETURNING id
                """, [site, title, description, actor.userName])
            let id = row.int(0, "id") ?? 0
            for batch in Set(batches) {
                try connection.execute("INSERT INTO deviation_batches (deviation_id, site, batch) VALUES ($1, $2, $3)", [String(id), site, batch])
            }
            try ControlAuditTrail.append(ControlAuditAction(
                user: actor.userName, action: "deviation.open", target: "DEV-\(id)", reason: description, newValue: title), to: connection)
            return try written(id, on: connection)
        }
    }

    /// QA classifies the deviation; an open one goes under investigation.
    @discardableResult
    public static func classify(_ id: Int64, as classification: Classification, by actor: WebUsers.User,
                                on connection: PostgresConnection) throws -> Record {
        try Signer.require(actor, roles: Signer.qualityRoles, action: "deviation.classify", target: "DEV-\(id)", on: connection)
        return try Signer.attempt(user: actor.userName, action: "deviation.classify", target: "DEV-\(id)", on: connection) {
            let current = try lock(id, on: connection)
            guard current.state != "closed" else { throw QualityRefusal(.stateConflict, "DEV-\(id) is closed") }
            try connection.execute("""
                UPDATE deviations SET classification = $2, state = 'under_investigation' WHERE id = $1
                """, [String(id), classification.rawValue])
            try ControlAuditTrail.append(ControlAuditAction(
                user: actor.userName, action: "deviation.classify", target: "DEV-\(id)",
                oldValue: "\(current.classification ?? "unclassified"), \(current.stateWords)",
                newValue: "\(classification.rawValue), under investigation"), to: connection)
            return try written(id, on: connection)
        }
    }

    /// QA records the investigation, the root cause and the CAPA reference (nil leaves a field as it is).
    @discardableResult
    public static func update(_ id: Int64, investigation: String?, rootCause: String?, capa: String?, by actor: WebUsers.User,
                              on connection: PostgresConnection) throws -> Record {
        try Signer.require(actor, roles: Signer.qualityRoles, action: "deviation.update", target: "DEV-\(id)", on: connection)
        return try Signer.attempt(user: actor.userName, action: "deviation.update", target: "DEV-\(id)", on: connection) {
            let current = try lock(id, on: connection)
            guard current.state != "closed" else { throw QualityRefusal(.stateConflict, "DEV-\(id) is closed") }
            let fields: [(String, String, String?)] = [
                ("investigation", current.investigation, try investigation.map { try FreeText.optional($0, "the investigation", limit: 20_000) }),
                ("root_cause", current.rootCause, try rootCause.map { try FreeText.optional($0, "the root cause", limit: 4000) }),
                ("capa", current.capa, try capa.map { try FreeText.optional($0, "the CAPA reference", limit: 200) }),
            ]
            for (column, old, new) in fields {
                guard let new, new != old else { continue }
                try connection.execute("UPDATE deviations SET \(column) = $2 WHERE id = $1", [String(id), new])
                try ControlAuditTrail.append(ControlAuditAction(
                    user: actor.userName, action: "deviation.update", target: "DEV-\(id)", reason: column.replacingOccurrences(of: "_", with: " "),
                    oldValue: old.isEmpty ? nil : old, newValue: new), to: connection)
            }
            return try written(id, on: connection)
        }
    }

    /// QA closes the deviation with an e-signature: their password again, a comment, and the
    /// version of the deviation they were shown (a later change refuses the signature).
    @discardableResult
    public static func close(_ id: Int64, comment: String, shownVersion: Int64, userName: String, password: String,
                             throttle: (any PasswordThrottle)? = nil, on connection: PostgresConnection) throws -> Record {
        let comment = try FreeText.required(comment, "the closing comment")
        let user = try Signer.authenticate(userName: userName, password: password, roles: Signer.qualityRoles, action: "deviation.close",
                                           target: "DEV-\(id)", throttle: throttle, on: connection)
        return try Signer.attempt(user: user.userName, action: "deviation.close", target: "DEV-\(id)", on: connection) {
            let current = try lock(id, on: connection)
            guard current.state != "closed" else { throw QualityRefusal(.stateConflict, "DEV-\(id) is closed already") }
            guard current.version == shownVersion else {
                throw QualityRefusal(.recordChanged, "the record changed since you opened it: DEV-\(id) is at version \(current.version), you saw \(shownVersion)")
            }
            guard current.state == "under_investigation", let classification = current.classification else {
                throw QualityRefusal(.stateConflict, "DEV-\(id) is \(current.stateWords): classify it first")
            }
            guard !current.investigation.isEmpty, !current.rootCause.isEmpty else {
                throw QualityRefusal(.stateConflict, "DEV-\(id) needs its investigation and root cause before it is closed")
            }
            guard classification == "minor" || !current.capa.isEmpty else {
                throw QualityRefusal(.stateConflict, "DEV-\(id) is \(classification): it needs a CAPA reference before it is closed")
            }
            let hash = contentHash(current)
            try connection.execute("""
                UPDATE deviations SET state = 'closed', closed = now(), closed_by = $2, closed_full_name = $3, close_comment = $4, closed_hash = $5
                WHERE id = $1
                """, [String(id), user.userName, user.fullName, comment, hash])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "deviation.close", target: "DEV-\(id)", reason: comment, oldValue: current.stateWords,
                newValue: "closed by \(user.fullName) (\(user.role.rawValue)), \(classification), content sha256:\(hash)"), to: connection)
            return try written(id, on: connection)
        }
    }

    /// SHA-256 of what a closing signature covers (`pocare-deviation/1`): the deviation's
    /// fields, its batches and its evidence.
    public static func contentHash(_ d: Record) -> String {
        SHA256.hex(CanonicalJSON.array([
            CanonicalJSON.string("pocare-deviation/1"), String(d.id), String(d.version), CanonicalJSON.string(d.site),
            CanonicalJSON.string(d.source), CanonicalJSON.string(d.title), CanonicalJSON.string(d.description),
            CanonicalJSON.optional(d.classification), CanonicalJSON.string(d.investigation), CanonicalJSON.string(d.rootCause),
            CanonicalJSON.string(d.capa), CanonicalJSON.array(d.batches.sorted().map(CanonicalJSON.string)),
            CanonicalJSON.array(d.evidence.map { CanonicalJSON.array([CanonicalJSON.string($0.key), CanonicalJSON.string($0.detail)]) }),
        ]))
    }

    static let columns = """
        id, site, source, title, description, classification, investigation, root_cause, capa, state, version,
        \(Times.iso("opened")) AS opened_utc, opened_by, \(Times.iso("closed")) AS closed_utc, closed_by, closed_full_name, close_comment, closed_hash
        """

    static func lock(_ id: Int64, on connection: PostgresConnection) throws -> Record {
        guard try connection.execute("SELECT 1 FROM deviations WHERE id = $1 FOR UPDATE", [String(id)]).rowCount == 1,
              let record = try find(id, on: connection)
        else { throw QualityRefusal(.notFound, "no deviation DEV-\(id)") }
        return record
    }

    /// The record this transaction has just written or changed: read back, or a refusal that
    /// rolls the transaction back should it not be there.
    static func written(_ id: Int64, on connection: PostgresConnection) throws -> Record {
        guard let record = try find(id, on: connection) else {
            throw QualityRefusal(.notFound, "DEV-\(id) could not be read back after it was written")
        }
        return record
    }

    public static func find(_ id: Int64, on connection: PostgresConnection) throws -> Record? {
        guard var record = try records(connection.execute("SELECT \(columns) FROM deviations WHERE id = $1", [String(id)])).first else { return nil }
        let batches = try connection.execute("SELECT batch FROM deviation_batches WHERE deviation_id = $1 ORDER BY batch", [String(id)])
        record.batches = batches.map { $0.string("batch") }.compactMap { $0 }
        let evidence = try connection.execute("""
            SELECT evidence_key, kind, \(Times.iso("time")) AS time_utc, detail, link FROM deviation_evidence WHERE deviation_id = $1 ORDER BY time, evidence_key
            """, [String(id)])
        record.evidence = evidence.map { row in
            Evidence(key: row.string("evidence_key") ?? "", kind: row.string("kind") ?? "", time: row.string("time_utc"),
                     detail: row.string("detail") ?? "", link: row.string("link"))
        }
        return record
    }

    /// Deviations, newest first: by site, state (`open` means not closed), or batch.
    public static func list(site: String? = nil, state: String? = nil, batch: String? = nil, limit: Int = 1000,
                            on connection: PostgresConnection) throws -> [Record] {
        var list = try records(connection.execute("""
            SELECT \(columns) FROM deviations d
            WHERE ($1::text IS NULL OR site = $1)
              AND ($2::text IS NULL OR ($2 = 'open' AND state <> 'closed') OR state = $2)
              AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM deviation_batches b WHERE b.deviation_id = d.id AND b.batch = $3))
            ORDER BY id DESC LIMIT $4
            """, [site, state, batch, String(limit)]))
        let ids = list.map { String($0.id) }
        guard !ids.isEmpty else { return list }
        let batches = try connection.execute("""
            SELECT deviation_id, batch FROM deviation_batches WHERE deviation_id = ANY($1::bigint[]) ORDER BY batch
            """, ["{" + ids.joined(separator: ",") + "}"])
        var byId: [Int64: [String]] = [:]
        for row in batches.map({ $0 }) {
            if let id = row.int("deviation_id"), let b = row.string("batch") { byId[id, default: []].append(b) }
        }
        for i in list.indices { list[i].batches = byId[list[i].id] ?? [] }
        return list
    }

    static func records(_ r: PostgresResult) -> [Record] {
        r.map { row in
            Record(id: row.int("id") ?? 0, site: row.string("site") ?? "", source: row.string("source") ?? "", title: row.string("title") ?? "",
                   description: row.string("description") ?? "", classification: row.string("classification"),
                   investigation: row.string("investigation") ?? "", rootCause: row.string("root_cause") ?? "", capa: row.string("capa") ?? "",
                   state: row.string("state") ?? "", version: row.int("version") ?? 0, opened: row.string("opened_utc") ?? "",
                   openedBy: row.string("opened_by") ?? "", closed: row.string("closed_utc"), closedBy: row.string("closed_by"),
                   closedFullName: row.string("closed_full_name"), closeComment: row.string("close_comment"), closedHash: row.string("closed_hash"))
        }
    }
}
