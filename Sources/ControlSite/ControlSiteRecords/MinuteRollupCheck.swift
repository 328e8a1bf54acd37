import Foundation

/// The minute rollups of a site's telemetry streams computed again from the stored samples and
/// compared with `sample_minutes` (`pocare-control verify`), or put in their place (`--rebuild-rollups`:
/// a database migrated with samples stored before the rollups were kept, or rollups written
/// outside the Control Site).
public enum MinuteRollupCheck {
    public struct Result: Sendable {
        public var lines: [String] = []
        /// No stored cell differs from the samples (cells missing where samples were stored before
        /// the rollups were kept are named, not counted against it).
        public var intact = true
    }

    /// `batch`: only the streams of that batch, and only its cells compared.
    public static func verify(site: String, batch: String?, rebuild: Bool, on connection: PostgresConnection) throws -> Result {
        var result = Result()
        let streams = try connection.execute(batch == nil ? """
            SELECT epoch, stream FROM streams WHERE site = $1 AND kind = 'sample' ORDER BY epoch, stream
            """ : """
            SELECT DISTINCT epoch, stream FROM batch_runs WHERE site = $1 AND batch = $2 ORDER BY epoch, stream
            """, batch == nil ? [site] : [site, batch]).map { StreamKey(site: site, epoch: $0.string("epoch") ?? "", stream: $0.string("stream") ?? "") }
        for key in streams {
            // Samples and rollups change in one ingest transaction: read in one snapshot they agree,
            // and a rebuild holds the stream's row so no ingest adds to it meanwhile.
            try connection.execute(rebuild ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                if rebuild {
                    try connection.execute("SELECT 1 FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE",
                                           [key.site, key.epoch, key.stream])
                }
                // An archived month's samples are not here, and its rollups stay: its minutes are
                // not compared, and a rebuild would lose them (the month is restored first).
                let archived = try archivedRanges(key, on: connection)
                if rebuild && !archived.seqs.isEmpty {
                    try connection.execute("COMMIT")
                    result.lines.append("rollups of \(key.stream): not rebuilt: months of its samples are archived (restore them first)")
                    continue
                }
                var computed = try compute(key, on: connection)
                let cells = computed.flatCells()
                var stored = try storedCells(key, on: connection)
                // A sample just before an archived range held until a record that is not here: its
                // cell is compared by its counts, lowest and highest only.
                let open = Set(try openBeforeArchived(key, archived.seqs, on: connection))
                var differing = 0, missing = 0, extra = 0
                for (cellKey, cell) in cells where batch == nil || cellKey.group.batch == batch {
                    guard let found = stored.removeValue(forKey: cellKey) else { missing += 1; continue }
                    if !agree(cell, found, countsOnly: open.contains(cellKey.group)) { differing += 1 }
                }
                for cellKey in stored.keys where batch == nil || cellKey.group.batch == batch {
                    if !archived.minutes.contains(where: { $0.contains(cellKey.group.minute) }) { extra += 1 }
                }
                if rebuild {
                    try connection.execute("DELETE FROM sample_minutes WHERE site = $1 AND epoch = $2 AND stream = $3", [key.site, key.epoch, key.stream])
                    if !computed.isEmpty {
                        try connection.copy("COPY sample_minutes (\(MinuteRollups.columns)) FROM STDIN", data: computed.copyRows().bytes)
                    }
                    try connection.execute("COMMIT")
                    result.lines.append("rollups of \(key.stream): \(cells.count) cells rebuilt from the samples"
                                        + (differing + missing + extra > 0 ? " (\(differing) differed, \(missing) were missing, \(extra) had no samples)" : ""))
                } else {
                    try connection.execute("COMMIT")
                    if differing + extra > 0 {
                        result.intact = false
                        result.lines.append("rollups of \(key.stream): \(differing) cells differ from the samples and \(extra) have no samples: "
                                            + "written outside the Control Site; --rebuild-rollups builds them again")
                    }
                    if missing > 0 {
                        result.lines.append("rollups of \(key.stream): \(missing) cells missing (samples stored before the rollups were kept); "
                                            + "--rebuild-rollups builds them")
                    }
                }
            } catch {
                connection.rollback()
                throw error
            }
        }
        if result.lines.isEmpty { result.lines.append("minute rollups: \(streams.count) streams agree with their samples") }
        return result
    }

    /// The rollups of every stored sample of the stream, in number order: each sample counted,
    /// each interval between consecutive numbers added (as ingest adds them).
    static func compute(_ key: StreamKey, on connection: PostgresConnection) throws -> MinuteRollups {
        var rollups = MinuteRollups()
        var previous: (seq: Int64, sample: RolledSample)?
        try connection.forEachChunk("""
            SELECT DISTINCT ON (seq) seq, round(extract(epoch FROM time) * 1000)::bigint AS time_ms, batch, phase,
                   "values"::text AS values_text, quality::text AS quality_text
            FROM stream_samples($1, $2, $3, 0, 9223372036854775807) ORDER BY seq, time
            """, [key.site, key.epoch, key.stream], chunk: 5_000) { rows in
            let seqColumn = rows.column("seq"), timeColumn = rows.column("time_ms"), batchColumn = rows.column("batch")
            let phaseColumn = rows.column("phase"), valuesColumn = rows.column("values_text"), qualityColumn = rows.column("quality_text")
            for r in 0..<rows.rowCount {
                guard let seq = rows.int(r, seqColumn), let timeMs = rows.int(r, timeColumn), let values = rows.bytes(r, valuesColumn) else { continue }
                let sample = RolledSample(timeMs: timeMs, batch: rows.string(r, batchColumn), phase: rows.string(r, phaseColumn),
                                          values: values, quality: rows.bytes(r, qualityColumn))
                rollups.add(sample: sample, of: key)
                if let previous, previous.seq + 1 == seq { rollups.add(interval: previous.sample, until: timeMs, of: key) }
                previous = (seq, sample)
            }
        }
        return rollups
    }

    static func storedCells(_ key: StreamKey, on connection: PostgresConnection) throws -> [MinuteRollups.FlatKey: MinuteRollups.Cell] {
        var cells: [MinuteRollups.FlatKey: MinuteRollups.Cell] = [:]
        try connection.forEachChunk(MinuteRollups.storedQuery, [key.site, key.epoch, key.stream, String(Int64.min), String(Int64.max)],
                                    chunk: 10_000) { rows in
            for row in rows.map({ $0 }) {
                guard let minute = row.int("minute") else { continue }
                let group = MinuteRollups.GroupKey(stream: key, minute: minute, batch: row.string("batch") ?? "", phase: row.string("phase") ?? "")
                cells[MinuteRollups.FlatKey(group: group, parameter: row.string("parameter") ?? "")] = MinuteRollups.cell(row)
            }
        }
        return cells
    }

    /// Counts and extremes exactly; sums to a part in 10^9 (added in another order).
    static func agree(_ a: MinuteRollups.Cell, _ b: MinuteRollups.Cell, countsOnly: Bool = false) -> Bool {
        func close(_ x: Double, _ y: Double) -> Bool { x == y || abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1) }
        return a.samples == b.samples && a.n == b.n && a.lo == b.lo && a.hi == b.hi
            && (countsOnly || (close(a.wsum, b.wsum) && close(a.held, b.held)))
    }

    /// The stream's archived numbers, and the minutes of every archived month.
    static func archivedRanges(_ key: StreamKey, on connection: PostgresConnection) throws -> (seqs: [ClosedRange<Int64>], minutes: [ClosedRange<Int64>]) {
        let seqs = try connection.execute("""
            SELECT seq_from, seq_to FROM archived_ranges WHERE site = $1 AND epoch = $2 AND stream = $3 ORDER BY seq_from
            """, [key.site, key.epoch, key.stream]).map { row -> ClosedRange<Int64>? in
                guard let from = row.int("seq_from"), let to = row.int("seq_to"), from <= to else { return nil }
                return from...to
            }.compactMap { $0 }
        let minutes = try connection.execute("""
            SELECT (extract(epoch FROM month) / 60)::bigint AS first, (extract(epoch FROM month + interval '1 month') / 60)::bigint - 1 AS last
            FROM archived_months
            """).map { row -> ClosedRange<Int64>? in
                guard let first = row.int("first"), let last = row.int("last"), first <= last else { return nil }
                return first...last
            }.compactMap { $0 }
        return (seqs, minutes)
    }

    /// The cells of the samples numbered just before each archived range.
    static func openBeforeArchived(_ key: StreamKey, _ ranges: [ClosedRange<Int64>], on connection: PostgresConnection) throws -> [MinuteRollups.GroupKey] {
        guard !ranges.isEmpty else { return [] }
        let rows = try connection.execute("""
            SELECT DISTINCT ON (seq) seq, round(extract(epoch FROM time) * 1000)::bigint AS time_ms, batch, phase FROM stored_samples
            WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = ANY($4::bigint[]) ORDER BY seq, time
            """, [key.site, key.epoch, key.stream, "{" + ranges.map { String($0.lowerBound - 1) }.joined(separator: ",") + "}"])
        return rows.map { row -> MinuteRollups.GroupKey? in
            guard let ms = row.int("time_ms") else { return nil }
            let minute = RolledSample(timeMs: ms, batch: nil, phase: nil, values: [], quality: nil).minute
            return MinuteRollups.GroupKey(stream: key, minute: minute, batch: row.string("batch") ?? "", phase: row.string("phase") ?? "")
        }.compactMap { $0 }
    }
}

extension MinuteRollupCheck {
    /// The minutes of the stream's sample `seq` and of its predecessor, whose interval ends at it:
    /// what changes in the rollups when that sample is replaced.
    static func minutesAround(_ key: StreamKey, seq: Int64, on connection: PostgresConnection) throws -> Set<Int64> {
        let rows = try connection.execute("""
            SELECT round(extract(epoch FROM time) * 1000)::bigint AS time_ms FROM stream_samples($1, $2, $3, $4::bigint - 1, $4::bigint)
            """, [key.site, key.epoch, key.stream, String(seq)])
        return Set(rows.map { $0.int("time_ms") }.compactMap { $0 }.map { RolledSample(timeMs: $0, batch: nil, phase: nil, values: [], quality: nil).minute })
    }

    /// Computes the rollups of these minutes of the stream again from its samples (a sample
    /// replaced by a dispute's resolution), in the caller's transaction, holding the stream's row
    /// so no ingest adds to them meanwhile. Reads the stream's samples of those minutes and the
    /// successor of each.
    static func recompute(_ key: StreamKey, minutes: Set<Int64>, on connection: PostgresConnection) throws {
        guard !minutes.isEmpty else { return }
        let k = [key.site, key.epoch, key.stream]
        let list = "{" + minutes.sorted().map(String.init).joined(separator: ",") + "}"
        try connection.execute("SELECT 1 FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE", k)
        try connection.execute("DELETE FROM sample_minutes WHERE site = $1 AND epoch = $2 AND stream = $3 AND minute = ANY($4::bigint[])", k + [list])
        let query = """
            SELECT DISTINCT ON (s.seq) s.seq, round(extract(epoch FROM s.time) * 1000)::bigint AS time_ms, s.batch, s.phase,
                   s."values"::text AS values_text, s.quality::text AS quality_text
            FROM stored_samples s JOIN unnest($4::bigint[]) AS m(minute)
              ON s.time >= to_timestamp(m.minute * 60) AND s.time < to_timestamp(m.minute * 60 + 60)
            WHERE s.site = $1 AND s.epoch = $2 AND s.stream = $3 ORDER BY s.seq, s.time
            """
        var samples: [Int64: RolledSample] = [:]
        func read(_ rows: PostgresResult) {
            for row in rows.map({ $0 }) {
                guard let seq = row.int("seq"), let ms = row.int("time_ms"), let values = row.string("values_text") else { continue }
                samples[seq] = RolledSample(timeMs: ms, batch: row.string("batch"), phase: row.string("phase"), values: Array(values.utf8)[...],
                                            quality: row.string("quality_text").map { Array($0.utf8)[...] })
            }
        }
        read(try connection.execute(query, k + [list]))
        let inMinutes = samples
        let successors = inMinutes.keys.map { $0 + 1 }.filter { samples[$0] == nil }
        if !successors.isEmpty {
            read(try connection.execute("""
                SELECT DISTINCT ON (seq) seq, round(extract(epoch FROM time) * 1000)::bigint AS time_ms, batch, phase,
                       "values"::text AS values_text, quality::text AS quality_text
                FROM stored_samples WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = ANY($4::bigint[]) ORDER BY seq, time
                """, k + ["{" + successors.map(String.init).joined(separator: ",") + "}"]))
        }
        var rollups = MinuteRollups()
        for (seq, sample) in inMinutes.sorted(by: { $0.key < $1.key }) {
            rollups.add(sample: sample, of: key)
            if let next = samples[seq + 1] { rollups.add(interval: sample, until: next.timeMs, of: key) }
        }
        guard !rollups.isEmpty else { return }
        try connection.copy("COPY sample_minutes (\(MinuteRollups.columns)) FROM STDIN", data: rollups.copyRows().bytes)
    }
}
