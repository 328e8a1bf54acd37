import POCareContract
import ControlSiteRecords
import Foundation
import SiteStore

/// A telemetry message as the writer gets it, parsed: consecutive records of one stream.
struct DesignMessage {
    var columns: SampleColumns
    var range: Range<Int>
}

/// The ingest path of a candidate, as a prototype of what `IngestWriter` would do with it: one
/// transaction per batch of messages; what is new is decided from the stream's progress under
/// its row lock (a partitioned table can hold no unique key without the partition's time, so
/// the database cannot decide it); a copy of a stored record is compared with it by hash.
final class DesignIngest {
    struct Outcome {
        var inserted = 0, duplicates = 0, conflicts = 0, staged = 0, chunkRows = 0, gapsOpened = 0, neighbourReads = 0

        static func + (a: Outcome, b: Outcome) -> Outcome {
            Outcome(inserted: a.inserted + b.inserted, duplicates: a.duplicates + b.duplicates, conflicts: a.conflicts + b.conflicts,
                    staged: a.staged + b.staged, chunkRows: a.chunkRows + b.chunkRows, gapsOpened: a.gapsOpened + b.gapsOpened,
                    neighbourReads: a.neighbourReads + b.neighbourReads)
        }
    }

    private struct SeqKey: Hashable {
        var streamId: Int32
        var seq: Int64
    }

    let connection: PostgresConnection
    let candidate: DesignCandidate
    let streams: [Int32: DesignStream]
    /// Runs shorter than this wait in staging until their minute closes (live records).
    let stageBelow: Int
    let layout: ChunkLayout
    /// The newest record this writer stored per stream: the usual predecessor of the next message.
    private var tails: [Int32: DesignPoint] = [:]
    private var hasher = RecordChain.Hasher()
    private var rollups = RollupAccumulator()

    init(connection: PostgresConnection, candidate: DesignCandidate, streams: [DesignStream], layout: ChunkLayout, stageBelow: Int = 20) throws {
        self.connection = connection
        self.layout = layout
        self.candidate = candidate
        self.streams = Dictionary(uniqueKeysWithValues: streams.map { ($0.streamId, $0) })
        self.stageBelow = stageBelow
        try connection.execute("SET work_mem = '64MB'")
        try connection.execute("CREATE TEMP TABLE rollup_delta (LIKE minute_rollups) ON COMMIT DELETE ROWS")
        try connection.execute("CREATE TEMP TABLE dup_check (site_id int, stream_id int, seq bigint, hash bytea) ON COMMIT DELETE ROWS")
    }

    /// Writes `messages` in one transaction.
    func write(_ messages: [DesignMessage]) throws -> Outcome {
        var outcome = Outcome()
        try connection.transaction {
            let ids = Array(Set(messages.map { $0.columns.stream.streamId })).sorted()
            let before = try lock(ids)
            var progress = before
            var newRuns: [(SampleColumns, Range<Int>)] = [], duplicateRuns: [(SampleColumns, Range<Int>)] = []
            var newest: [Int32: Int64] = [:]
            let now = Date()
            for m in messages {
                let id = m.columns.stream.streamId
                var p = progress[id]!
                var arrived: [ClosedRange<Int64>] = []
                var i = m.range.lowerBound
                while i < m.range.upperBound {
                    let new = Self.isNew(m.columns.seq(i), p)
                    var j = i + 1
                    while j < m.range.upperBound && Self.isNew(m.columns.seq(j), p) == new { j += 1 }
                    if new {
                        newRuns.append((m.columns, i..<j))
                        arrived.append(m.columns.seq(i)...m.columns.seq(j - 1))
                        newest[id] = max(newest[id] ?? .min, m.columns.timeNs[i..<j].max()!)
                    } else {
                        duplicateRuns.append((m.columns, i..<j))
                    }
                    i = j
                }
                outcome.gapsOpened += p.apply(arrived: arrived, at: now).opened.count
                progress[id] = p
            }
            try addRollups(newRuns, storedBefore: before, outcome: &outcome)
            try store(newRuns, outcome: &outcome)
            if !duplicateRuns.isEmpty {
                outcome.duplicates = duplicateRuns.reduce(0) { $0 + $1.1.count }
                outcome.conflicts = try conflicts(duplicateRuns)
            }
            try save(progress, before: before, newest: newest)
        }
        return outcome
    }

    static func isNew(_ seq: Int64, _ p: StreamProgress) -> Bool {
        seq > p.highest || p.gaps.contains { $0.range.contains(seq) }
    }

    static func stored(_ seq: Int64, _ p: StreamProgress) -> Bool {
        seq >= 1 && seq <= p.highest && !p.gaps.contains { $0.range.contains(seq) }
    }

    /// Samples and inner intervals of every new run; the interval to a run's predecessor, and to
    /// a successor stored before (a gap filled), each added by whoever stores the later end.
    private func addRollups(_ runs: [(SampleColumns, Range<Int>)], storedBefore: [Int32: StreamProgress], outcome: inout Outcome) throws {
        var ends: [SeqKey: DesignPoint] = [:]
        for (c, r) in runs {
            ends[SeqKey(streamId: c.stream.streamId, seq: c.seq(r.lowerBound))] = c.point(r.lowerBound)
            ends[SeqKey(streamId: c.stream.streamId, seq: c.seq(r.upperBound - 1))] = c.point(r.upperBound - 1)
        }
        for (c, r) in runs {
            rollups.add(c, r)
            let id = c.stream.streamId, firstSeq = c.seq(r.lowerBound), lastSeq = c.seq(r.upperBound - 1)
            let before = storedBefore[id]!
            var predecessor = ends[SeqKey(streamId: id, seq: firstSeq - 1)]
            if predecessor == nil, let tail = tails[id], tail.seq == firstSeq - 1 { predecessor = tail }
            if predecessor == nil, Self.stored(firstSeq - 1, before) {
                predecessor = try fetchPoint(c.stream, firstSeq - 1)
                outcome.neighbourReads += 1
            }
            if let predecessor { rollups.add(interval: predecessor, until: c.timeNs[r.lowerBound]) }
            if Self.stored(lastSeq + 1, before) {
                if let successor = try fetchPoint(c.stream, lastSeq + 1) {
                    rollups.add(interval: c.point(r.upperBound - 1), until: successor.timeNs)
                }
                outcome.neighbourReads += 1
            }
            if lastSeq > tails[id]?.seq ?? 0 { tails[id] = c.point(r.upperBound - 1) }
        }
        let delta = rollups.encode()
        rollups.removeAll()
        guard delta.rowCount > 0 else { return }
        try connection.copy("COPY rollup_delta FROM STDIN (FORMAT binary)", data: delta.finished())
        try connection.execute(RollupAccumulator.merge)
    }

    private func store(_ runs: [(SampleColumns, Range<Int>)], outcome: inout Outcome) throws {
        var main = BinaryCopy(capacity: runs.reduce(0) { $0 + $1.1.count } * 80), staged = BinaryCopy(capacity: 1 << 12)
        for (c, r) in runs {
            outcome.inserted += r.count
            if candidate == .rows {
                for i in r { DesignRows.appendRow(&main, c, i) }
            } else if r.count >= stageBelow {
                for chunk in DesignRows.chunkRanges(c, r, layout) { DesignRows.appendChunk(&main, c, chunk, candidate: candidate) }
            } else {
                for i in r { DesignRows.appendStaged(&staged, c, i) }
            }
        }
        if main.rowCount > 0 {
            let (table, columns) = candidate == .rows ? ("sample_rows", DesignRows.rowColumns) : ("sample_chunks", DesignRows.chunkColumns)
            try connection.copy("COPY \(table) (\(columns)) FROM STDIN (FORMAT binary)", data: main.finished())
            if candidate != .rows { outcome.chunkRows += main.rowCount }
        }
        if staged.rowCount > 0 {
            try connection.copy("COPY sample_staging (\(DesignRows.stagingColumns)) FROM STDIN (FORMAT binary)", data: staged.finished())
            outcome.staged += staged.rowCount
        }
    }

    /// Copies of stored records whose hash differs from the stored record's: conflicting duplicates.
    private func conflicts(_ runs: [(SampleColumns, Range<Int>)]) throws -> Int {
        if candidate == .rows {
            var copy = BinaryCopy()
            for (c, r) in runs {
                for i in r {
                    copy.row(fields: 4)
                    copy.int32(c.stream.siteId)
                    copy.int32(c.stream.streamId)
                    copy.int64(c.seq(i))
                    copy.bytea(Array(c.hash(i)))
                }
            }
            try connection.copy("COPY dup_check FROM STDIN (FORMAT binary)", data: copy.finished())
            return Int(try connection.execute("""
                SELECT count(*) FROM dup_check d
                LEFT JOIN sample_rows s ON s.site_id = d.site_id AND s.stream_id = d.stream_id AND s.seq = d.seq
                WHERE s.hash IS DISTINCT FROM d.hash
                """).int(0, 0) ?? 0)
        }
        let stored = try storedHashes(runs)
        var conflicts = 0
        for (c, r) in runs {
            for i in r where stored[SeqKey(streamId: c.stream.streamId, seq: c.seq(i))].map({ !$0.elementsEqual(c.hash(i)) }) ?? true {
                conflicts += 1
            }
        }
        return conflicts
    }

    /// The stored hash of every record the runs name, from staging or recomputed from its chunk.
    private func storedHashes(_ runs: [(SampleColumns, Range<Int>)]) throws -> [SeqKey: ArraySlice<UInt8>] {
        let sites = runs.map { String($0.0.stream.siteId) }, ids = runs.map { String($0.0.stream.streamId) }
        let lows = runs.map { String($0.0.seq($0.1.lowerBound)) }, highs = runs.map { String($0.0.seq($0.1.upperBound - 1)) }
        let arrays = [sites, ids, lows, highs].map { "{" + $0.joined(separator: ",") + "}" }
        let chunks = try connection.execute("""
            SELECT DISTINCT \(DecodedChunk.selectList("c"))
            FROM unnest($1::int[], $2::int[], $3::bigint[], $4::bigint[]) AS q(site_id, stream_id, lo, hi)
            JOIN sample_chunks c ON c.site_id = q.site_id AND c.stream_id = q.stream_id
                                AND c.seq_first BETWEEN q.lo - \(DesignRows.maxChunkRecords - 1) AND q.hi
            WHERE c.seq_first + c.n > q.lo
            """, arrays)
        var hashes: [SeqKey: ArraySlice<UInt8>] = [:]
        for chunk in DecodedChunk.decode(chunks) {
            let all = chunk.hashes ?? chunk.verify(streams[chunk.streamId]!, hasher: &hasher).hashes
            for i in 0..<chunk.count { hashes[SeqKey(streamId: chunk.streamId, seq: chunk.seqFirst + Int64(i))] = all[(i * 32)..<(i * 32 + 32)] }
        }
        let staged = try connection.execute("""
            SELECT s.stream_id, s.seq, encode(s.hash, 'hex') AS hash
            FROM unnest($1::int[], $2::int[], $3::bigint[], $4::bigint[]) AS q(site_id, stream_id, lo, hi)
            JOIN sample_staging s ON s.site_id = q.site_id AND s.stream_id = q.stream_id AND s.seq BETWEEN q.lo AND q.hi
            """, arrays)
        for row in staged.map({ $0 }) {
            hashes[SeqKey(streamId: Int32(row.int("stream_id")!), seq: row.int("seq")!)] = bytes(hexText: row.string("hash")!)[...]
        }
        return hashes
    }

    private func lock(_ ids: [Int32]) throws -> [Int32: StreamProgress] {
        let list = "{" + ids.map(String.init).joined(separator: ",") + "}"
        let rows = try connection.execute("""
            SELECT stream_id, contiguous, highest FROM stream_progress WHERE stream_id = ANY($1::int[]) ORDER BY stream_id FOR UPDATE
            """, [list])
        var progress: [Int32: StreamProgress] = [:]
        for row in rows.map({ $0 }) {
            progress[Int32(row.int("stream_id")!)] = StreamProgress(contiguous: row.int("contiguous")!, highest: row.int("highest")!)
        }
        if progress.values.contains(where: { $0.contiguous < $0.highest }) {
            let gaps = try connection.execute("""
                SELECT stream_id, seq_from, seq_to, extract(epoch FROM opened) AS opened FROM stream_gaps
                WHERE stream_id = ANY($1::int[]) ORDER BY stream_id, seq_from
                """, [list])
            for row in gaps.map({ $0 }) {
                progress[Int32(row.int("stream_id")!)]!.gaps.append(StreamProgress.Gap(
                    row.int("seq_from")!...row.int("seq_to")!, openedAt: Date(timeIntervalSince1970: row.double("opened")!)))
            }
        }
        return progress
    }

    private func save(_ progress: [Int32: StreamProgress], before: [Int32: StreamProgress], newest: [Int32: Int64]) throws {
        let ids = progress.keys.sorted()
        func array(_ values: [String]) -> String { "{" + values.joined(separator: ",") + "}" }
        try connection.execute("""
            UPDATE stream_progress p SET contiguous = u.contiguous, highest = u.highest, newest_ns = greatest(p.newest_ns, u.newest)
            FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(stream_id, contiguous, highest, newest)
            WHERE p.stream_id = u.stream_id
            """, [array(ids.map { String($0) }), array(ids.map { String(progress[$0]!.contiguous) }),
                  array(ids.map { String(progress[$0]!.highest) }), array(ids.map { newest[$0].map(String.init) ?? "NULL" })])
        let changed = ids.filter { progress[$0]!.gaps != before[$0]!.gaps }
        guard !changed.isEmpty else { return }
        try connection.execute("DELETE FROM stream_gaps WHERE stream_id = ANY($1::int[])", [array(changed.map { String($0) })])
        let gaps = changed.flatMap { id in progress[id]!.gaps.map { (id, $0) } }
        guard !gaps.isEmpty else { return }
        try connection.execute("""
            INSERT INTO stream_gaps (stream_id, seq_from, seq_to, opened)
            SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::timestamptz[])
            """, [array(gaps.map { String($0.0) }), array(gaps.map { String($0.1.range.lowerBound) }),
                  array(gaps.map { String($0.1.range.upperBound) }),
                  array(gaps.map { "\"\(ISO8601DateFormatter().string(from: $0.1.openedAt))\"" })])
    }

    /// One stored record, from staging, its chunk or its row.
    func fetchPoint(_ stream: DesignStream, _ seq: Int64) throws -> DesignPoint? {
        let key = [String(stream.siteId), String(stream.streamId), String(seq)]
        if candidate == .rows {
            let r = try connection.execute("""
                SELECT time_ns, context_id, narrow::text AS narrow, wide::text AS wide, bad::text AS bad FROM sample_rows
                WHERE site_id = $1 AND stream_id = $2 AND seq = $3
                """, key)
            guard r.rowCount > 0 else { return nil }
            return point(stream, seq, timeNs: r.int(0, "time_ns")!, contextId: r.int(0, "context_id")!,
                         values: [r.string(0, "narrow"), r.string(0, "wide")], bad: r.string(0, "bad"))
        }
        let staged = try connection.execute("""
            SELECT time_ns, context_id, vals::text AS vals, bad::text AS bad FROM sample_staging WHERE site_id = $1 AND stream_id = $2 AND seq = $3
            """, key)
        if staged.rowCount > 0 {
            return point(stream, seq, timeNs: staged.int(0, "time_ns")!, contextId: staged.int(0, "context_id")!,
                         values: [staged.string(0, "vals")], bad: staged.string(0, "bad"))
        }
        let chunk = DecodedChunk.decode(try connection.execute("""
            SELECT \(DecodedChunk.selectList()) FROM sample_chunks
            WHERE site_id = $1 AND stream_id = $2 AND seq_first BETWEEN $3::bigint - \(DesignRows.maxChunkRecords - 1) AND $3::bigint
            ORDER BY seq_first DESC LIMIT 1
            """, key)).first
        guard let chunk, seq < chunk.seqFirst + Int64(chunk.count) else { return nil }
        return chunk.point(Int(seq - chunk.seqFirst), siteId: stream.siteId)
    }

    /// A record from one-dimensional value arrays (several arrays: the first non-NULL element wins).
    private func point(_ stream: DesignStream, _ seq: Int64, timeNs: Int64, contextId: Int64, values: [String?], bad: String?) -> DesignPoint {
        var v = [Double](repeating: .nan, count: designParameters.count), q = [UInt8](repeating: 0, count: designParameters.count)
        for text in values.compactMap({ $0 }) {
            for (p, x) in DecodedChunk.numbers(text).enumerated() where x != nil && v[p].isNaN { v[p] = x! }
        }
        for code in bad.map(DecodedChunk.numbers) ?? [] { q[Int(code!) / 4] = UInt8(Int(code!) % 4) }
        return DesignPoint(siteId: stream.siteId, streamId: stream.streamId, contextId: Int32(contextId), seq: seq, timeNs: timeNs, values: v, quality: q)
    }
}
