import Logging
import POCareContract

/// A site's replay answer that records can never be sent is hearsay: anyone who can publish on
/// the broker can write one, and it is not signed. So it is held here (`replay_claims`) with an
/// open `unconfirmed_claim` finding, the range stays a gap and is asked for again with backoff,
/// and only a checkpoint signed by the site's registered key turns it into an `unrecoverable`
/// finding (docs/control-site.md, "Confirmed by the site's signature"):
/// - "pruned through N": a verified checkpoint of the stream's epoch whose chain for the stream
///   states `pruned_through` at or after the range's start;
/// - "the store's epoch is another": a verified checkpoint of the site under another epoch,
///   signed after every verified checkpoint of the asked epoch;
/// - any other refusal (an unknown stream): never confirmed by a checkpoint; QA sees the finding.
enum ReplayClaims {
    enum Claim: String {
        case pruned
        case epochReplaced = "epoch_replaced"
        case refused

        var words: String {
            switch self {
            case .pruned: "were pruned at the site"
            case .epochReplaced: "belong to a store the site has replaced"
            case .refused: "cannot be sent"
            }
        }
    }

    /// What an answer claims about the range asked, if it says records can never be sent.
    static func claim(of answer: ReplayAnswer, cause: String) -> (Claim, ClosedRange<Int64>)? {
        if let pruned = answer.prunedRange, answer.outcome != .done { return (.pruned, pruned) }
        guard answer.outcome == .refused, cause == ReplayPlanner.Cause.gap.rawValue else { return nil }
        let epochWords = answer.reason?.hasPrefix("the store's epoch is") == true
        return (epochWords ? .epochReplaced : .refused, answer.from...answer.to)
    }

    /// Keeps the claim and its open finding (once per request; a repeated claim counts).
    static func hold(_ claim: Claim, request: String, site: String, epoch: String, stream: String, range: ClosedRange<Int64>,
                     reason: String, _ connection: PostgresConnection) throws {
        let k = [site, epoch, stream, String(range.lowerBound), String(range.upperBound)]
        try connection.execute("""
            INSERT INTO replay_claims (request, site, epoch, stream, seq_from, seq_to, claim, reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request, claim) DO NOTHING
            """, [request] + k + [claim.rawValue, reason])
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            VALUES ('unconfirmed_claim', $1, $2, $3, $4, $5, $6)
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail
            """, k + ["a replay answer says records \(range.lowerBound)...\(range.upperBound) \(claim.words) (\(reason)); "
                      + "no checkpoint signed by the site confirms it, so they stay missing and are asked for again"])
    }

    /// Turns every held claim a verified checkpoint confirms into its `unrecoverable` finding.
    static func confirm(logger: Logger, _ connection: PostgresConnection) throws {
        let pruned = try connection.execute("""
            SELECT c.id, c.site, c.epoch, c.stream, c.seq_from, c.seq_to, c.reason, p.through, p.checkpoint
            FROM replay_claims c
            CROSS JOIN LATERAL (
                SELECT cc.pruned_through AS through, cc.checkpoint FROM chain_checkpoints cc
                JOIN site_checkpoints s ON s.id = cc.checkpoint AND s.verified
                WHERE cc.site = c.site AND cc.epoch = c.epoch AND cc.stream = c.stream AND cc.pruned_through >= c.seq_from
                ORDER BY cc.pruned_through DESC LIMIT 1) p
            WHERE c.confirmed IS NULL AND c.claim = 'pruned'
            """)
        for r in 0..<pruned.rowCount {
            guard let claimed = row(pruned, r), let through = pruned.int(r, "through"), let checkpoint = pruned.string(r, "checkpoint") else { continue }
            let lost = claimed.range.lowerBound...min(claimed.range.upperBound, through)
            try UnrecoverableRecords.record(
                site: claimed.site, epoch: claimed.epoch, stream: claimed.stream, range: lost, through: lost.upperBound,
                cause: "pruned at the site (retention) before the Control Site received them, as its signed checkpoint confirms",
                logger: logger, connection)
            try settle(claimed, checkpoint: checkpoint, connection)
        }
        let replaced = try connection.execute("""
            SELECT c.id, c.site, c.epoch, c.stream, c.seq_from, c.seq_to, c.reason, n.epoch AS new_epoch, n.id AS checkpoint
            FROM replay_claims c
            CROSS JOIN LATERAL (
                SELECT s.id, s.epoch FROM site_checkpoints s
                WHERE s.site = c.site AND s.verified AND s.epoch <> c.epoch AND s.signed_ns > coalesce(
                    (SELECT max(o.signed_ns) FROM site_checkpoints o WHERE o.site = c.site AND o.epoch = c.epoch AND o.verified), 0)
                ORDER BY s.signed_ns DESC LIMIT 1) n
            WHERE c.confirmed IS NULL AND c.claim = 'epoch_replaced'
            """)
        for r in 0..<replaced.rowCount {
            guard let claimed = row(replaced, r), let epoch = replaced.string(r, "new_epoch"), let checkpoint = replaced.string(r, "checkpoint") else { continue }
            try UnrecoverableRecords.record(
                site: claimed.site, epoch: claimed.epoch, stream: claimed.stream, range: claimed.range, through: claimed.range.upperBound,
                cause: "the site cannot send them: \(claimed.reason); a checkpoint it signed under epoch \(epoch) confirms the new store",
                logger: logger, connection)
            try settle(claimed, checkpoint: checkpoint, connection)
        }
    }

    private struct Held {
        var id: String, site: String, epoch: String, stream: String, range: ClosedRange<Int64>, reason: String
    }

    private static func row(_ rows: PostgresResult, _ r: Int) -> Held? {
        guard let id = rows.string(r, "id"), let site = rows.string(r, "site"), let epoch = rows.string(r, "epoch"),
            let stream = rows.string(r, "stream"), let from = rows.int(r, "seq_from"), let to = rows.int(r, "seq_to"), from <= to
        else { return nil }
        return Held(id: id, site: site, epoch: epoch, stream: stream, range: from...to, reason: rows.string(r, "reason") ?? "")
    }

    private static func settle(_ claimed: Held, checkpoint: String, _ connection: PostgresConnection) throws {
        try connection.execute("UPDATE replay_claims SET confirmed = now(), confirmed_by = $2 WHERE id = $1", [claimed.id, checkpoint])
        try connection.execute("""
            UPDATE integrity_findings SET resolved = now(), detail = detail || '; since confirmed by the site''s signed checkpoint'
            WHERE kind = 'unconfirmed_claim' AND site = $1 AND epoch = $2 AND stream = $3 AND seq_from = $4 AND seq_to = $5
                AND resolved IS NULL
            """, [claimed.site, claimed.epoch, claimed.stream, String(claimed.range.lowerBound), String(claimed.range.upperBound)])
    }
}
