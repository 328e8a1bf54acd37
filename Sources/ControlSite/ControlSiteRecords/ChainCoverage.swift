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
    /// - Parameter keptWalks: a telemetry segment's own records walked once per version of the
    ///   batch's record (`batch_chain_walks`), and only the records from its end to the signed
    ///   head walked each time; false (a signature's gate, an export, `verify`): every record walked now.
    public static func segments(site: String, batch: String, keptWalks: Bool = false, on connection: PostgresConnection) throws -> [ChainSegment] {
        let rows = try connection.execute("""
            SELECT epoch, stream, min(first_seq) AS first_seq, max(last_seq) AS last_seq FROM batch_runs WHERE site = $1 AND batch = $2 GROUP BY epoch, stream
            UNION ALL
            SELECT epoch, stream, min(seq), max(seq) FROM events WHERE site = $1 AND batch = $2 GROUP BY epoch, stream
            ORDER BY 2, 1
            """, [site, batch])
        return try rows.map { row in
            try coverage(site: site, epoch: row.string("epoch") ?? "", stream: row.string("stream") ?? "",
                         first: row.int("first_seq") ?? 0, last: row.int("last_seq") ?? 0, keptFor: keptWalks ? batch : nil, on: connection)
        }
    }

    /// The named check for the disposition gates: the batch has records, and every chain
    /// segment of them is covered by a verified checkpoint.
    public static func allSegmentsCovered(site: String, batch: String, on connection: PostgresConnection) throws -> Bool {
        let segments = try segments(site: site, batch: batch, on: connection)
        return !segments.isEmpty && segments.allSatisfy(\.isCovered)
    }

    static func coverage(site: String, epoch: String, stream: String, first: Int64, last: Int64, keptFor batch: String? = nil,
                         on connection: PostgresConnection) throws -> ChainSegment
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
        let walk: Walk
        if isTelemetry, let batch {
            // The segment's own records as kept for the record's version, then the rest to the head now.
            let own = try ChainWalks.kept(site: site, batch: batch, epoch: epoch, stream: stream, first: first, last: last, on: connection)
            let rest = try Walk.read(site: site, epoch: epoch, stream: stream, from: last, to: head, counted: last + 1, on: connection)
            walk = Walk(records: own.records + rest.records, unrecomputed: own.unrecomputed + rest.unrecomputed,
                        unlinked: own.unlinked + rest.unlinked, headHash: rest.headHash)
        } else {
            walk = try Walk.read(site: site, epoch: epoch, stream: stream, from: first, to: head, counted: first, on: connection)
        }
        let count = walk.records, unrecomputed = walk.unrecomputed, unlinked = walk.unlinked
        if walk.headHash != headHash {
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

/// One walk along a chain from `from` to `to`: the records from `counted` on, those that arrived
/// without what their hash needs, those not naming their predecessor's hash, and the hash at `to`.
struct Walk: Sendable, Equatable {
    var records: Int64
    var unrecomputed: Int64
    var unlinked: Int64
    var headHash: String?
    /// Of the records counted, those of `batch` when one was named.
    var ofBatch: Int64 = 0

    static func read(site: String, epoch: String, stream: String, from: Int64, to: Int64, counted: Int64, batch: String? = nil,
                     on connection: PostgresConnection) throws -> Walk {
        let isTelemetry = stream.hasSuffix("/telemetry")
        let table = isTelemetry ? "stream_samples($1, $2, $3, $4::bigint, $5::bigint)"
            : "events WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq BETWEEN $4 AND $5"
        let recomputed = isTelemetry ? "time_ns IS NOT NULL" : "body IS NOT NULL"
        let walk = try connection.execute("""
            SELECT count(*) FILTER (WHERE seq >= $6) AS records, count(*) FILTER (WHERE seq >= $6 AND NOT (\(recomputed))) AS unrecomputed,
                   count(*) FILTER (WHERE seq >= $6 AND seq > $4 AND previous_hash IS DISTINCT FROM before) AS unlinked,
                   max(hash) FILTER (WHERE seq = $5) AS head_hash, count(*) FILTER (WHERE seq >= $6 AND batch = $7) AS of_batch
            FROM (SELECT seq, hash, previous_hash, batch, \(isTelemetry ? "time_ns" : "body"), lag(hash) OVER (ORDER BY seq) AS before
                  FROM \(table)) r
            """,
            [site, epoch, stream, String(from), String(to), String(counted), batch])
        return Walk(records: walk.int(0, "records") ?? 0, unrecomputed: walk.int(0, "unrecomputed") ?? 0, unlinked: walk.int(0, "unlinked") ?? 0,
                    headHash: walk.string(0, "head_hash"), ofBatch: walk.int(0, "of_batch") ?? 0)
    }
}

/// A telemetry segment's own records walked once per version of the batch's record: every
/// sample of the batch that arrives, changes or goes takes a new version, so a walk kept for the
/// current version is what walking again would find. Kept only when the version stood before and
/// after, and when every number of the segment is there and of the batch: a record of another
/// batch (or of none) inside it, or a number still missing, could change without the batch's
/// version, so such a segment is walked on every view.
enum ChainWalks {
    static func kept(site: String, batch: String, epoch: String, stream: String, first: Int64, last: Int64,
                     on connection: PostgresConnection) throws -> Walk {
        let key = [site, batch, epoch, stream, String(first), String(last)]
        let found = try connection.execute("""
            SELECT v.version, w.records, w.unrecomputed, w.unlinked, w.last_hash
            FROM batch_record_versions v
            LEFT JOIN batch_chain_walks w ON w.site = v.site AND w.batch = v.batch AND w.epoch = $3 AND w.stream = $4
                                          AND w.first_seq = $5 AND w.last_seq = $6 AND w.version = v.version
            WHERE v.site = $1 AND v.batch = $2
            """, key)
        if let records = found.int(0, "records") {
            return Walk(records: records, unrecomputed: found.int(0, "unrecomputed") ?? 0, unlinked: found.int(0, "unlinked") ?? 0,
                        headHash: found.string(0, "last_hash"))
        }
        let walk = try Walk.read(site: site, epoch: epoch, stream: stream, from: first, to: last, counted: first, batch: batch, on: connection)
        guard let version = found.int(0, "version"), walk.records == last - first + 1, walk.ofBatch == walk.records else { return walk }
        // A walk of the segment as it was before the batch grew is of no more use.
        try connection.execute("""
            DELETE FROM batch_chain_walks WHERE site = $1 AND batch = $2 AND epoch = $3 AND stream = $4
                AND (first_seq, last_seq) <> ($5::bigint, $6::bigint) AND version < $7::bigint
            """, key + [String(version)])
        try connection.execute("""
            INSERT INTO batch_chain_walks (site, batch, epoch, stream, first_seq, last_seq, version, records, unrecomputed, unlinked, last_hash)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM batch_record_versions WHERE site = $1 AND batch = $2 AND version = $7
            ON CONFLICT (site, batch, epoch, stream, first_seq, last_seq) DO UPDATE SET version = excluded.version, records = excluded.records,
                unrecomputed = excluded.unrecomputed, unlinked = excluded.unlinked, last_hash = excluded.last_hash
            WHERE batch_chain_walks.version <= excluded.version
            """, key + [String(version), String(walk.records), String(walk.unrecomputed), String(walk.unlinked), walk.headHash])
        return walk
    }
}
