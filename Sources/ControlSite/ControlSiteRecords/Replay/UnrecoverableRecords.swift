import Logging

/// Records a range this Control Site never received and the site can never send as a permanent
/// `unrecoverable` finding, and stops asking for numbers up to `through`. Called only once the
/// site's signed checkpoint confirmed why (`ReplayClaims`), never on a replay answer alone.
enum UnrecoverableRecords {
    static func record(site: String, epoch: String, stream: String, range: ClosedRange<Int64>, through: Int64, cause: String,
                       logger: Logger, _ connection: PostgresConnection) throws {
        let k = [site, epoch, stream]
        try connection.execute("""
            INSERT INTO streams (site, epoch, stream, device, kind) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (site, epoch, stream) DO NOTHING
            """, k + [ReplayCoordinator.device(of: stream), ReplayCoordinator.kind(of: stream)])
        let row = try connection.execute(
            "SELECT contiguous, highest FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE", k)
        let gaps = try connection.execute(
            "SELECT seq_from, seq_to FROM gaps WHERE site = $1 AND epoch = $2 AND stream = $3 ORDER BY seq_from", k)
        let missing = ReplayPlanner.missing(
            in: range, contiguous: row.int(0, "contiguous") ?? 0, highest: row.int(0, "highest") ?? 0,
            gaps: gaps.map { g in g.int("seq_from").flatMap { a in g.int("seq_to").map { a...max(a, $0) } } }.compactMap { $0 })
        for lost in missing {
            logger.error("records lost for good", metadata: [
                "site": "\(site)", "stream": "\(stream)", "missing": "\(lost.lowerBound)...\(lost.upperBound)", "cause": "\(cause)",
            ])
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                VALUES ('unrecoverable', $1, $2, $3, $4, $5, $6)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                    occurrences = integrity_findings.occurrences + 1, last_seen = now()
                """, k + [String(lost.lowerBound), String(lost.upperBound),
                          "records \(lost.lowerBound)...\(lost.upperBound) never reached the Control Site and cannot be replayed: \(cause)"])
        }
        try connection.execute("""
            UPDATE streams SET unrecoverable_through = greatest(unrecoverable_through, $4) WHERE site = $1 AND epoch = $2 AND stream = $3
            """, k + [String(through)])
    }
}
