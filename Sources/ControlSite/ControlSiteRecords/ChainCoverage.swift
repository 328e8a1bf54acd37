/// Which records of a batch the site's signature vouches for (docs/control-site.md, "Signed
/// chain segments"). A batch's records lie on chain segments: per telemetry and event stream,
/// its first to its last record. A segment is covered when a checkpoint signed by the site's
/// registered key names a head at or after the segment's end whose hash is the stored record's,
/// and every record from the segment's start to that head is stored, was recomputed on arrival,
/// and names its predecessor's hash. The disposition gate's `chain_signed` check needs every segment covered.
public struct ChainSegment: Sendable, Codable, Equatable {
    public var epoch: String
    public var stream: String
    public var first: Int64
    public var last: Int64
    /// The signed head that covers the segment; nil: unsigned.
    public var signedSeq: Int64?
    public var signedAt: String?
    public var key: String?
    /// Why the segment is not covered; nil when it is.
    public var problem: String?
    public var isCovered: Bool { problem == nil }
}

public enum ChainCoverage {
    /// Every chain segment of the batch, with its coverage.
    public static func segments(site: String, batch: String, on connection: PostgresConnection) throws -> [ChainSegment] {
        let rows = try connection.execute("""
            SELECT epoch, stream, min(first_seq) AS first_seq, max(last_seq) AS last_seq FROM batch_runs WHERE site = $1 AND batch = $2 GROUP BY epoch, stream
            UNION ALL
            SELECT epoch, stream, min(seq), max(seq) FROM events WHERE site = $1 AND batch = $2 GROUP BY epoch, stream
            ORDER BY 2, 1
            """, [site, batch])
        return try rows.map { row in
            try coverage(site: site, epoch: row.string("epoch") ?? "", stream: row.string("stream") ?? "",
                         first: row.int("first_seq") ?? 0, last: row.int("last_seq") ?? 0, on: connection)
        }
    }

    /// The named check for the disposition gates: the batch has records, and every chain
    /// segment of them is covered by a verified checkpoint.
    public static func allSegmentsCovered(site: String, batch: String, on connection: PostgresConnection) throws -> Bool {
        let segments = try segments(site: site, batch: batch, on: connection)
        return !segments.isEmpty && segments.allSatisfy(\.isCovered)
    }

    static func coverage(site: String, epoch: String, stream: String, first: Int64, last: Int64, on connection: PostgresConnection) throws
        -> ChainSegment
    {
        var segment = ChainSegment(epoch: epoch, stream: stream, first: first, last: last)
        let signed = try connection.execute("""
            SELECT c.seq, c.hash, to_char(to_timestamp(s.signed_ns / 1e9) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS signed_utc, s.key
            FROM chain_checkpoints c JOIN site_checkpoints s ON s.id = c.checkpoint
            WHERE c.site = $1 AND c.epoch = $2 AND c.stream = $3 AND c.seq >= $4 AND s.verified
            ORDER BY c.seq LIMIT 1
            """, [site, epoch, stream, String(last)])
        guard signed.rowCount == 1, let head = signed.int(0, "seq"), let headHash = signed.string(0, "hash") else {
            segment.problem = "no verified checkpoint reaches record \(last)"
            return segment
        }
        segment.signedSeq = head
        segment.signedAt = signed.string(0, "signed_utc")
        segment.key = signed.string(0, "key")
        let isTelemetry = stream.hasSuffix("/telemetry")
        let table = isTelemetry ? "samples" : "events"
        let recomputed = isTelemetry ? "time_ns IS NOT NULL" : "body IS NOT NULL"
        let walk = try connection.execute("""
            SELECT count(*) AS records, count(*) FILTER (WHERE NOT (\(recomputed))) AS unrecomputed,
                   count(*) FILTER (WHERE seq > $4 AND previous_hash IS DISTINCT FROM before) AS unlinked,
                   max(hash) FILTER (WHERE seq = $5) AS head_hash
            FROM (SELECT seq, hash, previous_hash, \(isTelemetry ? "time_ns" : "body"), lag(hash) OVER (ORDER BY seq) AS before
                  FROM \(table) WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq BETWEEN $4 AND $5) r
            """,
            [site, epoch, stream, String(first), String(head)])
        let count = walk.int(0, "records") ?? 0, unrecomputed = walk.int(0, "unrecomputed") ?? 0, unlinked = walk.int(0, "unlinked") ?? 0
        if walk.string(0, "head_hash") != headHash {
            segment.problem = "the signed hash of record \(head) is not the stored record's"
        } else if count != head - first + 1 {
            segment.problem = "\(head - first + 1 - count) records between \(first) and the signed \(head) are missing"
        } else if unrecomputed > 0 {
            segment.problem = "\(unrecomputed) records arrived without what their hash needs"
        } else if unlinked > 0 {
            segment.problem = "\(unlinked) records do not name their predecessor's hash"
        }
        return segment
    }
}
