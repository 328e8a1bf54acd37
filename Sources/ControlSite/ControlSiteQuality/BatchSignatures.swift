import ControlSiteRecords
import Foundation
import Hashing

/// Electronic signatures of batch records (21 CFR 11.50, 11.70, 11.200; EU GMP Annex 11 §14):
/// the signer's full name, the time (UTC, from the database), the meaning, a comment, and the
/// SHA-256 of the record the signer was shown, which must be the record as it is when the
/// signature is stored. The password is entered again at each signing. The disposition gate
/// (`DispositionGate`) decides in the same transaction whether the signature may stand; every
/// refusal is audited.
public enum BatchSignatures {
    /// Signs the batch; `shownHash` is the record hash of the page or command output the signer read.
    @discardableResult
    public static func sign(site: String, batch: String, meaning: Disposition.Meaning, shownHash: String, comment: String, userName: String,
                            password: String, settings: QualitySettings = QualitySettings(), specs: SpecLookup = SpecLookup(profilesDirectory: nil),
                            throttle: (any PasswordThrottle)? = nil, on connection: PostgresConnection) throws -> Disposition.Signature
    {
        let target = "\(site)/\(batch)"
        let comment = try FreeText.optional(comment, "the comment")
        let user = try Signer.authenticate(userName: userName, password: password, roles: meaning.roles, action: "batch.sign", target: target,
                                           purpose: meaning == .reviewed ? "review batch records" : "certify or reject batches (a QP does)",
                                           throttle: throttle, on: connection)
        return try Signer.attempt(user: user.userName, action: "batch.sign", target: target, on: connection) {
            try holdRecord(site: site, batch: batch, on: connection)
            var limits = BatchSeriesReader.Limits()
            limits.plotColumns = nil
            // The hash signed, and the checks its gate decides on, are computed from the rows as they are now, held still: never kept ones.
            guard let review = try BatchReview.load(site: site, batch: batch, settings: settings, specs: specs, limits: limits, fresh: true,
                                                    on: connection) else {
                throw QualityRefusal(.notFound, "no records of batch \(batch) at \(site)")
            }
            let context = DispositionGate.Context(review: review, meaning: meaning, signer: user, shownHash: shownHash, settings: settings,
                                                  inMasterFile: try MasterFile.site(site, on: connection) != nil,
                                                  chainSegments: try ChainCoverage.segments(site: site, batch: batch, on: connection))
            let failures = DispositionGate.failures(context)
            if let first = failures.first {
                throw QualityRefusal(first.0.kind, "the \(meaning.act) is refused: " + failures.map { "\($0.1) [\($0.0.name)]" }.joined(separator: "; "))
            }
            let hash = review.recordHash
            let row = try connection.execute("""
                INSERT INTO batch_signatures (site, batch, user_name, full_name, role, meaning, comment, signed, record_hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8) RETURNING id
                """, [site, batch, user.userName, user.fullName, user.role.rawValue, meaning.rawValue, comment, hash])
            let state: Disposition.State = switch meaning {
            case .reviewed: .qaReviewed
            case .certified: .certified
            case .rejected: .rejected
            }
            try setState(site: site, batch: batch, state: state, hash: hash, on: connection)
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "batch.sign", target: target, reason: comment.isEmpty ? nil : comment,
                oldValue: review.status.state.words,
                newValue: "\(meaning.rawValue) by \(user.fullName) (\(user.role.rawValue)), record sha256:\(hash)"), to: connection)
            // A certified verification or comparability batch may complete its site's qualification.
            if meaning == .certified { try Qualification.refresh(site: site, by: user.userName, on: connection) }
            let id = row.int(0, "id") ?? 0
            guard let signature = try Disposition.list(site: site, batch: batch, currentHash: hash, on: connection).first(where: { $0.id == id })
            else { throw QualityRefusal(.notFound, "the signature vanished") }
            return signature
        }
    }

    /// A QP withdraws the standing certification of the batch, with a reason and their password:
    /// the batch is QA reviewed again, the signature stays, marked withdrawn.
    public static func withdraw(site: String, batch: String, reason: String, userName: String, password: String,
                                throttle: (any PasswordThrottle)? = nil, on connection: PostgresConnection) throws {
        let target = "\(site)/\(batch)"
        let reason = try FreeText.required(reason, "the reason")
        let user = try Signer.authenticate(userName: userName, password: password, roles: [.qp], action: "batch.withdraw", target: target,
                                           purpose: "withdraw a certification (a QP does)", throttle: throttle, on: connection)
        try Signer.attempt(user: user.userName, action: "batch.withdraw", target: target, on: connection) {
            let standing = try connection.execute("""
                SELECT id, record_hash, full_name FROM batch_signatures
                WHERE site = $1 AND batch = $2 AND meaning = 'certified' AND withdrawn IS NULL FOR UPDATE
                """, [site, batch])
            guard let id = standing.int(0, "id"), let hash = standing.string(0, "record_hash") else {
                throw QualityRefusal(.stateConflict, "batch \(batch) at \(site) has no certification to withdraw")
            }
            try connection.execute("""
                UPDATE batch_signatures SET withdrawn = now(), withdrawn_by = $2, withdrawn_full_name = $3, withdraw_reason = $4 WHERE id = $1
                """, [String(id), user.userName, user.fullName, reason])
            try setState(site: site, batch: batch, state: .qaReviewed, hash: hash, on: connection, keepChange: true)
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "batch.withdraw", target: target, reason: reason,
                oldValue: "certified by \(standing.string(0, "full_name") ?? "?")", newValue: "QA reviewed (certification withdrawn by \(user.fullName))"), to: connection)
        }
    }

    /// Holds the batch's record still until the transaction ends: every change of it (a sample,
    /// an event, a run, a dispute of its records) takes the batch's row in `batch_record_versions`
    /// and so waits, while other batches' records keep arriving. Statements after this one see
    /// every change committed before it.
    public static func holdRecord(site: String, batch: String, on connection: PostgresConnection) throws {
        try connection.execute("""
            INSERT INTO batch_record_versions (site, batch) VALUES ($1, $2) ON CONFLICT DO NOTHING
            """, [site, batch])
        try connection.execute("SELECT version FROM batch_record_versions WHERE site = $1 AND batch = $2 FOR UPDATE", [site, batch])
    }

    /// Keeps the list's view: the state, the record it is bound to, and (unless kept) the record
    /// no longer marked changed, since the signature was made on it as it is.
    static func setState(site: String, batch: String, state: Disposition.State, hash: String, on connection: PostgresConnection,
                         keepChange: Bool = false) throws {
        try connection.execute("""
            INSERT INTO batch_dispositions (site, batch, state, record_hash, since) VALUES ($1, $2, $3, $4, now())
            ON CONFLICT (site, batch) DO UPDATE SET state = excluded.state, record_hash = excluded.record_hash, since = now(),
                record_changed = CASE WHEN $5 THEN batch_dispositions.record_changed END
            """, [site, batch, state.rawValue, hash, keepChange ? "true" : "false"])
    }
}
