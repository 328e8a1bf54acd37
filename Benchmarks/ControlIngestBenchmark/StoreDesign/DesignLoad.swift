import POCareContract
import ControlSiteRecords
import Foundation

extension SampleColumns {
    /// Appends a record as stored (its hash is not computed again).
    func appendStored(timeNs t: Int64, cycle c: Int64, values v: [Double], quality q: [UInt8], hash: [UInt8]) {
        timeNs.append(t)
        cycle.append(c)
        values.append(contentsOf: v)
        quality.append(contentsOf: q)
        hashes.append(contentsOf: hash)
    }
}

extension DesignIngest {
    /// Moves staged records whose minute has closed (their stream has a newer minute) into
    /// chunks, under the streams' row locks. Returns the records moved and the chunks made.
    func compact() throws -> (records: Int, chunks: Int) {
        try connection.transaction {
            let ids = try connection.execute("SELECT DISTINCT stream_id FROM sample_staging ORDER BY 1").map { $0.int("stream_id")! }
            guard !ids.isEmpty else { return (0, 0) }
            try connection.execute("SELECT 1 FROM stream_progress WHERE stream_id = ANY($1::int[]) ORDER BY stream_id FOR UPDATE",
                                   ["{" + ids.map(String.init).joined(separator: ",") + "}"])
            let moved = try connection.execute("""
                DELETE FROM sample_staging s USING stream_progress p
                WHERE s.stream_id = p.stream_id AND s.time_ns / \(DesignSchema.nanosecondsPerMinute) < p.newest_ns / \(DesignSchema.nanosecondsPerMinute)
                RETURNING s.stream_id, s.seq, s.time_ns, s.cycle, encode(s.previous_hash, 'hex') AS previous_hash,
                          encode(s.hash, 'hex') AS hash, s.vals::text AS vals, s.bad::text AS bad
                """)
            struct Staged { var streamId: Int32; var seq: Int64; var timeNs: Int64; var cycle: Int64; var previous: String; var hash: String
                            var vals: String; var bad: String? }
            let rows = moved.map { r in
                Staged(streamId: Int32(r.int("stream_id")!), seq: r.int("seq")!, timeNs: r.int("time_ns")!, cycle: r.int("cycle")!,
                       previous: r.string("previous_hash")!, hash: r.string("hash")!, vals: r.string("vals")!, bad: r.string("bad"))
            }.sorted { ($0.streamId, $0.seq) < ($1.streamId, $1.seq) }
            var copy = BinaryCopy(capacity: rows.count * 60)
            var run: SampleColumns?
            func flush() {
                guard let c = run else { return }
                for chunk in DesignRows.chunkRanges(c, 0..<c.count, layout) { DesignRows.appendChunk(&copy, c, chunk, candidate: candidate) }
                run = nil
            }
            for s in rows {
                if let c = run, c.stream.streamId != s.streamId || c.seq(c.count) != s.seq { flush() }
                if run == nil { run = SampleColumns(stream: streams[s.streamId]!, seqFirst: s.seq, previousOfFirst: bytes(hexText: s.previous)) }
                var q = [UInt8](repeating: 0, count: designParameters.count)
                for code in s.bad.map(DecodedChunk.numbers) ?? [] { q[Int(code!) / 4] = UInt8(Int(code!) % 4) }
                run!.appendStored(timeNs: s.timeNs, cycle: s.cycle, values: DecodedChunk.numbers(s.vals).map { $0 ?? .nan }, quality: q,
                                  hash: bytes(hexText: s.hash))
            }
            flush()
            if copy.rowCount > 0 {
                try connection.copy("COPY sample_chunks (\(DesignRows.chunkColumns)) FROM STDIN (FORMAT binary)", data: copy.finished())
            }
            return (rows.count, copy.rowCount)
        }
    }
}

/// The bare load: the candidate's final rows, written with COPY and nothing else (no progress,
/// no de-duplication, no checks), so ingest can be held against it.
enum DesignBulkLoad {
    /// Writes whole streams (or whole days of them: `before` is each stream's record before the
    /// first, so the interval between the two counts in the rollups); returns the rows written.
    /// Rollups are computed here too, since they are part of what ingest writes.
    static func load(_ columns: [SampleColumns], candidate: DesignCandidate, layout: ChunkLayout, on connection: PostgresConnection,
                     before: [Int32: DesignPoint] = [:]) throws -> Int {
        var rows = 0
        try connection.transaction {
            var accumulator = RollupAccumulator()
            for c in columns {
                if candidate == .today {
                    var text: [UInt8] = []
                    text.reserveCapacity(c.count * 420)
                    for i in 0..<c.count { DesignRows.appendToday(&text, c, i) }
                    try connection.copy("COPY samples (\(DesignRows.todayColumns)) FROM STDIN", data: text)
                    rows += c.count
                    continue
                }
                var copy = BinaryCopy(capacity: c.count * (candidate == .rows ? 160 : 60))
                if candidate == .rows {
                    for i in 0..<c.count { DesignRows.appendRow(&copy, c, i) }
                } else {
                    for chunk in DesignRows.chunkRanges(c, 0..<c.count, layout) { DesignRows.appendChunk(&copy, c, chunk, candidate: candidate) }
                }
                let (table, list) = candidate == .rows ? ("sample_rows", DesignRows.rowColumns) : ("sample_chunks", DesignRows.chunkColumns)
                try connection.copy("COPY \(table) (\(list)) FROM STDIN (FORMAT binary)", data: copy.finished())
                rows += copy.rowCount
                accumulator.add(c, 0..<c.count)
                if let previous = before[c.stream.streamId], c.count > 0 { accumulator.add(interval: previous, until: c.timeNs[0]) }
            }
            guard candidate != .today else { return }
            let encoded = accumulator.encode()
            if before.isEmpty {
                try connection.copy("COPY minute_rollups (\(RollupAccumulator.columns)) FROM STDIN (FORMAT binary)", data: encoded.finished())
            } else {
                // The minute of each stream's previous record is stored already: merged, not inserted.
                try connection.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_delta (LIKE minute_rollups) ON COMMIT DELETE ROWS")
                try connection.copy("COPY rollup_delta (\(RollupAccumulator.columns)) FROM STDIN (FORMAT binary)", data: encoded.finished())
                try connection.execute(RollupAccumulator.merge)
            }
            rows += encoded.rowCount
        }
        return rows
    }
}
