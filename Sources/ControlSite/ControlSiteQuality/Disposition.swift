import ControlSiteRecords
import Foundation

/// The disposition of a batch (ISA-88 batch end, EU GMP Annex 16, 21 CFR 11): running ->
/// ended (the site's record of every device received and agreeing with the data held) -> QA
/// reviewed -> QP certified | rejected. A QP may withdraw a certification (back to QA reviewed,
/// the signature kept as withdrawn). Every signature is bound to the record's hash; a record
/// that changes afterwards makes every signature on it INVALID and the batch is ended again.
public enum Disposition {
    public enum Meaning: String, Sendable, Codable, CaseIterable {
        /// QA's review (a QA person or a QP).
        case reviewed
        /// The QP's certification for release.
        case certified
        /// The QP's rejection.
        case rejected

        public var roles: Set<WebUsers.Role> { self == .reviewed ? [.qa, .qp] : [.qp] }

        public var words: String {
            switch self {
            case .reviewed: "QA reviewed"
            case .certified: "certified for release by the QP"
            case .rejected: "rejected by the QP"
            }
        }

        /// The act, as a refusal names it.
        public var act: String {
            switch self {
            case .reviewed: "QA review"
            case .certified: "certification"
            case .rejected: "rejection"
            }
        }
    }

    public enum State: String, Sendable, Codable, CaseIterable {
        case running, ended
        case qaReviewed = "qa_reviewed"
        case certified, rejected

        public var words: String {
            switch self {
            case .running: "running"
            case .ended: "ended, awaiting QA review"
            case .qaReviewed: "QA reviewed, awaiting the QP"
            case .certified: "certified"
            case .rejected: "rejected"
            }
        }
    }

    public struct Signature: Sendable, Codable, Equatable {
        public var id: Int64
        public var userName: String
        public var fullName: String
        public var role: String
        public var meaning: String
        public var comment: String
        public var signed: String
        public var recordHash: String
        /// Whether the record still has the hash it had when signed.
        public var valid: Bool
        public var withdrawn: String?
        public var withdrawnBy: String?
        public var withdrawnFullName: String?
        public var withdrawReason: String?
        /// Valid and not withdrawn.
        public var stands: Bool { valid && withdrawn == nil }
    }

    public struct Status: Sendable, Codable, Equatable {
        public var state: State
        /// Every device's part of the batch has its site record.
        public var ended: Bool
        /// Every site record agrees with the data held here.
        public var verified: Bool
        /// Devices whose record has not arrived.
        public var awaitingRecords: [String]
        public var signatures: [Signature]
        /// A signature exists that the record no longer matches.
        public var invalidated: Bool
    }

    public static func status(site: String, batch: String, record: BatchRecord, currentHash: String, on connection: PostgresConnection) throws
        -> Status
    {
        let devices = Set(record.phases.map(\.device))
        let received = Set(record.siteRecords.map(\.device))
        let awaiting = devices.subtracting(received).sorted()
        let verified = !record.siteRecords.isEmpty && record.siteRecords.allSatisfy { $0.record != nil && $0.differences.isEmpty }
        let signatures = try list(site: site, batch: batch, currentHash: currentHash, on: connection)
        let standing = signatures.filter(\.stands)
        var state: State = awaiting.isEmpty ? .ended : .running
        if state == .ended {
            if standing.contains(where: { $0.meaning == Meaning.rejected.rawValue }) { state = .rejected }
            else if standing.contains(where: { $0.meaning == Meaning.certified.rawValue }) { state = .certified }
            else if standing.contains(where: { $0.meaning == Meaning.reviewed.rawValue }) { state = .qaReviewed }
        }
        return Status(state: state, ended: awaiting.isEmpty, verified: verified, awaitingRecords: awaiting, signatures: signatures,
                      invalidated: signatures.contains { !$0.valid })
    }

    /// Every signature of the batch, each checked against the record's hash now.
    public static func list(site: String, batch: String, currentHash: String?, on connection: PostgresConnection) throws -> [Signature] {
        let r = try connection.execute("""
            SELECT id, user_name, full_name, role, meaning, comment, \(Times.iso("signed")) AS signed_utc, record_hash,
                   \(Times.iso("withdrawn")) AS withdrawn_utc, withdrawn_by, withdrawn_full_name, withdraw_reason
            FROM batch_signatures WHERE site = $1 AND batch = $2 ORDER BY signed, id
            """, [site, batch])
        return r.map { row in
            let hash = row.string("record_hash") ?? ""
            return Signature(id: row.int("id") ?? 0, userName: row.string("user_name") ?? "", fullName: row.string("full_name") ?? "",
                             role: row.string("role") ?? "", meaning: row.string("meaning") ?? "", comment: row.string("comment") ?? "",
                             signed: row.string("signed_utc") ?? "", recordHash: hash, valid: hash == currentHash,
                             withdrawn: row.string("withdrawn_utc"), withdrawnBy: row.string("withdrawn_by"),
                             withdrawnFullName: row.string("withdrawn_full_name"), withdrawReason: row.string("withdraw_reason"))
        }
    }

    /// Whether a QP's certification of the batch stands and is bound to the record as it is now.
    public static func isCertified(site: String, batch: String, on connection: PostgresConnection) throws -> Bool {
        // batch_dispositions is kept by every signature and marked by the database the moment the
        // record changes, so this needs no pass over the samples (the sites page asks it per batch).
        let r = try connection.execute("""
            SELECT 1 FROM batch_dispositions WHERE site = $1 AND batch = $2 AND state = 'certified' AND record_changed IS NULL
            """, [site, batch])
        return r.rowCount > 0
    }

    /// The list's view of each signed batch (from `batch_dispositions`, kept by every signature and
    /// marked by the database when a signed record changes), by `site/batch`.
    public struct ListState: Sendable, Codable, Equatable {
        public var state: String
        public var invalid: Bool
        public var signedBy: String?
    }

    public static func listStates(on connection: PostgresConnection) throws -> [String: ListState] {
        let r = try connection.execute("""
            SELECT d.site || '/' || d.batch AS site_batch, d.state, d.record_changed IS NOT NULL AS invalid,
                   (SELECT s.full_name FROM batch_signatures s WHERE s.site = d.site AND s.batch = d.batch AND s.withdrawn IS NULL
                    ORDER BY s.signed DESC, s.id DESC LIMIT 1) AS signed_by
            FROM batch_dispositions d
            """)
        var out: [String: ListState] = [:]
        for row in r.map({ $0 }) {
            guard let key = row.string("site_batch") else { continue }
            out[key] = ListState(state: row.string("state") ?? "ended", invalid: row.bool("invalid") ?? false, signedBy: row.string("signed_by"))
        }
        return out
    }
}

/// The state of every batch as the batches list filters them: `running`, `awaiting_qa`,
/// `awaiting_qp`, `certified`, `rejected`, `invalid` (a signed record changed since; QA reviews again).
public enum BatchStates {
    public static let all = ["running", "awaiting_qa", "awaiting_qp", "certified", "rejected", "invalid"]

    public static func words(_ state: String) -> String {
        switch state {
        case "awaiting_qa": "awaiting QA review"
        case "awaiting_qp": "awaiting the QP"
        case "invalid": "INVALID: the record changed after signing"
        default: state
        }
    }

    /// By `site/batch`.
    public static func load(_ batches: [BatchSummary], on connection: PostgresConnection) throws -> [String: String] {
        let signed = try Disposition.listStates(on: connection)
        let r = try connection.execute("SELECT DISTINCT site || '/' || batch || '/' || coalesce(device, '') AS record_key FROM events WHERE kind = 'batch_record'")
        let recorded = Set(r.map { $0.string("record_key") }.compactMap { $0 })
        var devices: [String: [String]] = [:]
        for b in batches { devices["\(b.site)/\(b.batch)", default: []].append(b.device) }
        var out: [String: String] = [:]
        for (key, list) in devices {
            if let s = signed[key] {
                let state: String = switch s.state {
                case "qa_reviewed": "awaiting_qp"
                case "certified", "rejected": s.state
                default: "awaiting_qa"
                }
                out[key] = s.invalid ? "invalid" : state
            } else {
                out[key] = list.allSatisfy { recorded.contains("\(key)/\($0)") } ? "awaiting_qa" : "running"
            }
        }
        return out
    }
}
