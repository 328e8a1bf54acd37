import POCareContract
import ControlSiteRecords
import Foundation
import SiteStore

/// Wall-clock times of repeated runs of one read.
struct Timing {
    var seconds: [Double]

    static func measure(_ times: Int, _ body: () throws -> Void) rethrows -> Timing {
        let clock = ContinuousClock()
        var seconds: [Double] = []
        for _ in 0..<times {
            let start = clock.now
            try body()
            let d = clock.now - start
            seconds.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        return Timing(seconds: seconds.sorted())
    }

    func quantile(_ q: Double) -> Double { seconds.isEmpty ? 0 : seconds[min(seconds.count - 1, Int((Double(seconds.count) * q).rounded(.up)) - 1)] }
    var text: String { String(format: "p50 %.1f ms, p95 %.1f ms (%d runs)", quantile(0.5) * 1000, quantile(0.95) * 1000, seconds.count) }
}

/// The reads the pages, commands and checks would make against a candidate.
struct DesignReads {
    let connection: PostgresConnection
    let candidate: DesignCandidate
    let streams: [Int32: DesignStream]
    private var hasher = RecordChain.Hasher()

    init(connection: PostgresConnection, candidate: DesignCandidate, streams: [DesignStream]) throws {
        self.connection = connection
        self.candidate = candidate
        self.streams = Dictionary(uniqueKeysWithValues: streams.map { ($0.streamId, $0) })
        // A real's shortest decimal reads back as the double it was stored from (the default since PostgreSQL 12).
        try connection.execute("SET extra_float_digits = 1")
    }

    /// A batch page's trend: every minute of the stream in `minutes`, turned into per-parameter
    /// series of time, lowest, highest and mean. Returns the minutes read.
    func batchRollups(_ stream: DesignStream, minutes: ClosedRange<Int32>) throws -> Int {
        let r = try connection.execute("""
            SELECT minute, samples, lo::text AS lo, hi::text AS hi, wsum::text AS wsum, held::text AS held FROM minute_rollups
            WHERE site_id = $1 AND stream_id = $2 AND minute BETWEEN $3 AND $4 ORDER BY minute
            """, [String(stream.siteId), String(stream.streamId), String(minutes.lowerBound), String(minutes.upperBound)])
        var series = [[(Double, Double?, Double?, Double?)]](repeating: [], count: designParameters.count)
        for row in r.map({ $0 }) {
            let minute = Double(row.int("minute")!) * 60
            let lo = DecodedChunk.numbers(row.string("lo")!), hi = DecodedChunk.numbers(row.string("hi")!)
            let sum = DecodedChunk.numbers(row.string("wsum")!), held = DecodedChunk.numbers(row.string("held")!)
            for p in 0..<designParameters.count {
                let mean = (held[p] ?? 0) > 0 ? (sum[p] ?? 0) / held[p]! : nil
                series[p].append((minute, lo[p], hi[p], mean))
            }
        }
        return r.rowCount
    }

    /// The same trend reduced in SQL to `buckets` points per parameter (what a plot 1,000 pixels wide shows).
    func batchRollupsBucketed(_ stream: DesignStream, minutes: ClosedRange<Int32>, buckets: Int) throws -> Int {
        let width = max(1, (Int(minutes.upperBound - minutes.lowerBound) + buckets) / buckets)
        let r = try connection.execute("""
            SELECT (minute - $3) / $5 AS bucket, p, min(lo[p]) AS lo, max(hi[p]) AS hi, sum(wsum[p]) / nullif(sum(held[p]), 0) AS mean
            FROM minute_rollups, generate_series(1, \(designParameters.count)) p
            WHERE site_id = $1 AND stream_id = $2 AND minute BETWEEN $3 AND $4
            GROUP BY 1, 2 ORDER BY 1, 2
            """, [String(stream.siteId), String(stream.streamId), String(minutes.lowerBound), String(minutes.upperBound), String(width)])
        var points = 0
        for row in r.map({ $0 }) where row.double("mean") != nil { points += 1 }
        return points
    }

    /// Zoomed in: every record of the stream between two times, decoded. Returns the records.
    func rawWindow(_ stream: DesignStream, fromNs: Int64, toNs: Int64) throws -> Int {
        let key = [String(stream.siteId), String(stream.streamId), String(fromNs), String(toNs)]
        if candidate == .rows {
            let r = try connection.execute("""
                SELECT seq, time_ns, narrow::text AS narrow, wide::text AS wide, bad::text AS bad FROM sample_rows
                WHERE site_id = $1 AND stream_id = $2 AND time_ns >= $3 AND time_ns < $4 ORDER BY seq
                """, key)
            var count = 0
            for row in r.map({ $0 }) {
                count += DecodedChunk.numbers(row.string("narrow")!).count > 0 ? 1 : 0
                _ = row.string("wide").map(DecodedChunk.numbers)
            }
            return count
        }
        // A chunk starts at most a minute before the first record it holds.
        let chunks = DecodedChunk.decode(try connection.execute("""
            SELECT \(DecodedChunk.selectList()) FROM sample_chunks
            WHERE site_id = $1 AND stream_id = $2 AND first_ns >= $3::bigint - \(DesignSchema.nanosecondsPerMinute) AND first_ns < $4
            ORDER BY seq_first
            """, key))
        return chunks.reduce(0) { total, c in total + c.timeNs.filter { $0 >= fromNs && $0 < toNs }.count }
    }

    /// One record found by its number and its hash recomputed; true when it verifies.
    mutating func record(_ stream: DesignStream, seq: Int64) throws -> Bool {
        let key = [String(stream.siteId), String(stream.streamId), String(seq)]
        if candidate == .rows {
            let r = try connection.execute("""
                SELECT seq, time_ns, cycle, encode(hash, 'hex') AS hash, narrow::text AS narrow, wide::text AS wide, bad::text AS bad
                FROM sample_rows WHERE site_id = $1 AND stream_id = $2 AND seq IN ($3::bigint - 1, $3::bigint) ORDER BY seq
                """, key)
            let rows = r.map { $0 }
            guard let row = rows.last, row.int("seq") == seq else { return false }
            let previous = rows.count == 2 ? rows[0].string("hash")! : RecordChain.genesis
            return try rowHash(stream, row, previous: previous) == row.string("hash")
        }
        let chunk = DecodedChunk.decode(try connection.execute("""
            SELECT \(DecodedChunk.selectList()) FROM sample_chunks
            WHERE site_id = $1 AND stream_id = $2 AND seq_first BETWEEN $3::bigint - \(DesignRows.maxChunkRecords - 1) AND $3::bigint
            ORDER BY seq_first DESC LIMIT 1
            """, key)).first
        guard let chunk, seq < chunk.seqFirst + Int64(chunk.count) else { return false }
        return chunk.verify(stream, hasher: &hasher).verified
    }

    private mutating func rowHash(_ stream: DesignStream, _ row: PostgresResult.Row, previous: String) throws -> String {
        var values = [Double](repeating: .nan, count: designParameters.count), quality = [UInt8](repeating: 0, count: designParameters.count)
        for text in [row.string("narrow"), row.string("wide")].compactMap({ $0 }) {
            for (p, x) in DecodedChunk.numbers(text).enumerated() where x != nil { values[p] = x! }
        }
        for code in row.string("bad").map(DecodedChunk.numbers) ?? [] { quality[Int(code!) / 4] = UInt8(Int(code!) % 4) }
        let c = SampleColumns(stream: stream, seqFirst: row.int("seq")!, previousOfFirst: [])
        return hex(c.chainHash(previous: previous, seq: row.int("seq")!, timeNs: row.int("time_ns")!, cycle: row.int("cycle")!,
                               values: values[...], quality: quality[...], hasher: &hasher))
    }

    /// Every record of a stream read and its chain recomputed: the records, those that verify,
    /// and the links between chunks (or rows) that do not hold.
    mutating func verifyStream(_ stream: DesignStream) throws -> (records: Int, verified: Int, breaks: Int) {
        let key = [String(stream.siteId), String(stream.streamId)]
        if candidate == .rows {
            let r = try connection.execute("""
                SELECT seq, time_ns, cycle, encode(hash, 'hex') AS hash, narrow::text AS narrow, wide::text AS wide, bad::text AS bad
                FROM sample_rows WHERE site_id = $1 AND stream_id = $2 ORDER BY seq
                """, key)
            var previous = RecordChain.genesis, verified = 0, breaks = 0
            for row in r.map({ $0 }) {
                let stored = row.string("hash")!
                if try rowHash(stream, row, previous: previous) == stored { verified += 1 } else { breaks += 1 }
                previous = stored
            }
            return (r.rowCount, verified, breaks)
        }
        let chunks = DecodedChunk.decode(try connection.execute("""
            SELECT \(DecodedChunk.selectList()) FROM sample_chunks WHERE site_id = $1 AND stream_id = $2 ORDER BY seq_first
            """, key))
        var records = 0, verified = 0, breaks = 0
        var last: [UInt8]?
        for chunk in chunks {
            records += chunk.count
            if chunk.verify(stream, hasher: &hasher).verified { verified += chunk.count }
            if let last, last != chunk.previousHash { breaks += 1 }
            last = chunk.lastHash
        }
        return (records, verified, breaks)
    }

    /// The sites page: each stream's newest record, through its progress (highest number).
    func latest(_ site: [DesignStream]) throws -> Int {
        var found = 0
        for stream in site {
            let key = [String(stream.siteId), String(stream.streamId)]
            if candidate == .rows {
                found += try connection.execute("""
                    SELECT s.time_ns, s.narrow::text, s.wide::text FROM stream_progress p
                    JOIN sample_rows s ON s.site_id = p.site_id AND s.stream_id = p.stream_id AND s.seq = p.highest
                    WHERE p.site_id = $1 AND p.stream_id = $2
                    """, key).rowCount
                continue
            }
            let staged = try connection.execute("""
                SELECT s.time_ns, s.vals::text FROM stream_progress p
                JOIN sample_staging s ON s.site_id = p.site_id AND s.stream_id = p.stream_id AND s.seq = p.highest
                WHERE p.site_id = $1 AND p.stream_id = $2
                """, key)
            if staged.rowCount > 0 {
                found += 1
                continue
            }
            let chunk = DecodedChunk.decode(try connection.execute("""
                SELECT \(DecodedChunk.selectList("c")) FROM stream_progress p
                JOIN LATERAL (SELECT * FROM sample_chunks c WHERE c.site_id = p.site_id AND c.stream_id = p.stream_id
                              AND c.seq_first BETWEEN p.highest - \(DesignRows.maxChunkRecords - 1) AND p.highest
                              ORDER BY c.seq_first DESC LIMIT 1) c ON true
                WHERE p.site_id = $1 AND p.stream_id = $2
                """, key))
            found += chunk.isEmpty ? 0 : 1
        }
        return found
    }

    /// `compare` from rollups: per stream and context, the time-weighted mean and SD of every
    /// parameter over all its minutes. Returns the batches summarised.
    func compareFromRollups() throws -> Int {
        let r = try connection.execute("""
            SELECT site_id, stream_id, context_id, p, sum(wsum[p]) / nullif(sum(held[p]), 0) AS mean,
                   sqrt(greatest(sum(wsq[p]) / nullif(sum(held[p]), 0) - (sum(wsum[p]) / nullif(sum(held[p]), 0)) ^ 2, 0)) AS sd
            FROM minute_rollups, generate_series(1, \(designParameters.count)) p
            GROUP BY 1, 2, 3, 4
            """)
        return r.rowCount / designParameters.count
    }
}
