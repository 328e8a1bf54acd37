import Foundation

/// The one place trajectories are read: one device's samples of one batch in one phase,
/// averaged per time bucket since the phase's start, in the database, so only one row per
/// bucket leaves it. A value not read well, or not a number, is no value; a bucket without a
/// value is nil. (Per-minute rollups, once kept, replace this query and nothing else.)
public enum TrajectoryReader {
    /// No trajectory is longer than this many buckets; a longer phase is cut and said so by the caller.
    public static let maximumBuckets = 5_000

    public static func read(
        _ connection: PostgresConnection, site: String, device: String, batch: String, phase: String,
        phaseStart: Double, phaseEnd: Double?, bucketSeconds: Double, parameters: [String]
    ) throws -> [String: [Double?]] {
        guard !parameters.isEmpty, bucketSeconds > 0, bucketSeconds.isFinite, phaseStart.isFinite else { return [:] }
        let columns = parameters.indices.map { i in
            let p = "$\(i + 9)"
            return "avg(CASE WHEN json_typeof(s.\"values\"->\(p)) = 'number' AND s.quality->>\(p) IS NULL "
                + "THEN (s.\"values\"->>\(p))::float8 END) AS p\(i)"
        }.joined(separator: ", ")
        let rows = try connection.execute("""
            SELECT floor((extract(epoch FROM s.time) - $5::float8) / $6::float8)::bigint AS bucket, \(columns)
            FROM batch_runs r
            CROSS JOIN LATERAL stream_samples(r.site, r.epoch, r.stream, r.first_seq, r.last_seq) s
            WHERE r.site = $1 AND r.device = $2 AND r.batch = $3 AND r.phase = $4
              AND s.batch = $3 AND s.phase = $4 AND s.time >= to_timestamp($5::float8)
              AND ($7::float8 IS NULL OR s.time < to_timestamp($7::float8))
              AND s.time < to_timestamp($5::float8 + $6::float8 * $8::float8)
            GROUP BY 1 ORDER BY 1
            """, [site, device, batch, phase, String(phaseStart), String(bucketSeconds), phaseEnd.map { String($0) },
                  String(maximumBuckets)] + parameters)
        var trajectories: [String: [Double?]] = [:]
        let count = rows.rowCount == 0 ? 0 : Int(rows.int(rows.rowCount - 1, "bucket") ?? -1) + 1
        for p in parameters { trajectories[p] = Array(repeating: nil, count: max(count, 0)) }
        for r in 0..<rows.rowCount {
            guard let bucket = rows.int(r, "bucket"), bucket >= 0, Int(bucket) < count else { continue }
            for (i, p) in parameters.enumerated() {
                if let v = rows.double(r, "p\(i)"), v.isFinite { trajectories[p]![Int(bucket)] = v }
            }
        }
        return trajectories
    }
}
