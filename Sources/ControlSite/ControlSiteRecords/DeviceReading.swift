import BatchStatistics
import Foundation
import POCareCore

/// Reads one device's samples of a batch, in the order the site stored them, into the shared
/// statistics. Only the parameters followed are taken out of each sample, in the database, and
/// a sample too large to read is counted and left; so neither the rows nor a forged sample
/// with thousands of keys decide what this costs.
struct DeviceReading {
    let connection: PostgresConnection
    let site: String
    let batch: String
    let device: String
    let runs: [BatchSeriesReader.Run]
    let spec: IPCSpec?
    let limits: BatchSeriesReader.Limits

    func read(window: BatchSeriesReader.Window?, checkpoint: () throws -> Void) throws -> DeviceBatchStatistics {
        let (tracks, leftOut) = try self.tracks()
        let times = try sampleTimes(checkpoint)
        let hold = BatchStatistics.holdLimit(times: times)
        let events = try eventWindow()
        let start = window?.start ?? events.started ?? times.first ?? 0
        let end = window?.end ?? events.ended ?? times.last ?? start
        var accumulator = BatchStatistics.Accumulator(
            tracks: tracks, spec: spec, start: start, end: end, holdLimit: hold, stretchesPerTrack: limits.plotColumns.map { 4 * $0 } ?? 0)
        let runningParameter = spec?.running?.parameterId
        var columns = tracks.map(\.parameter)
        let runningColumn = runningParameter.map { id in columns.firstIndex(of: id) ?? { columns.append(id); return columns.count - 1 }() }
        var plots = limits.plotColumns.map { width in
            tracks.map { PlotSeriesBuilder(parameter: $0.parameter, unit: $0.unit, start: start, end: end, columns: width, hold: hold) }
        }
        var samples = 0, oversized = 0
        for run in runs {
            let parameters: [String?] = [site, run.epoch, run.stream, String(run.firstSeq), String(run.lastSeq), batch,
                                         String(min(limits.maxSampleBytes, Int(Int32.max)))]
            try connection.forEachChunk(Self.valuesQuery, parameters, chunk: limits.chunk, checkpoint: checkpoint) { rows in
                Self.forEachSample(rows, parameters: columns) { time, phase, isOversized, coded in
                    samples += 1
                    if isOversized { oversized += 1 }
                    let observed = coded.map(Self.observed)
                    accumulator.add(time: time, phase: phase ?? "-", running: runningColumn.flatMap { observed[$0] }) { observed[$0] }
                    for i in tracks.indices { plots?[i].add(time: time, value: observed[i]) }
                }
            }
        }
        let summary = accumulator.finish()
        return DeviceBatchStatistics(
            device: device, spec: nil, limitsKnown: spec != nil, ended: events.ended != nil, samples: samples, summary: summary,
            oversizedSamples: oversized, parametersLeftOut: leftOut, series: (plots ?? []).compactMap { builder in
                var builder = builder
                return builder.finish(summary: summary)
            })
    }

    /// The parameters followed: those the spec limits in any phase first, then the device's
    /// measurements as its published metadata names them, up to the limit.
    func tracks() throws -> (tracks: [BatchStatistics.Track], leftOut: [String]) {
        let meta = try connection.execute("""
            SELECT p->>'id' AS parameter, coalesce(p->>'unit', '') AS unit, coalesce(p->>'value', '') AS value_kind,
                   coalesce(p->>'type', '') AS value_type
            FROM device_metadata m, jsonb_array_elements(m.metadata->'parameters') p
            WHERE m.site = $1 AND m.device = $2 AND jsonb_typeof(m.metadata->'parameters') = 'array'
            """, [site, device])
        var units: [String: String] = [:]
        var measurements: [String] = []
        for row in meta.map({ $0 }) {
            guard let id = row.string("parameter") else { continue }
            units[id] = row.string("unit") ?? ""
            let type = row.string("value_type") ?? ""
            // A number that is a status word or flags has no mean (as the site's record decides).
            let state = type.contains("int") && ["status", "word", "flags"].contains { id.contains($0) }
            if row.string("value_kind") == "number", !state { measurements.append(id) }
        }
        var limited: [String: ParameterLimits] = [:]
        for phase in spec?.phases ?? [] { for l in phase.limits where limited[l.parameterId] == nil { limited[l.parameterId] = l } }
        // Where the device's metadata is held, only its parameters: a spec limit on a parameter the model lacks does not apply.
        let known = Set(units.keys)
        let spec = limited.keys.filter { known.isEmpty || known.contains($0) }.sorted()
        var ordered = spec + measurements.filter { limited[$0] == nil }.sorted()
        if let only = limits.onlyParameters { ordered = ordered.filter(only.contains) }
        let kept = Array(ordered.prefix(limits.maxParameters))
        let tracks = kept.sorted().map { id in
            BatchStatistics.Track(
                parameter: id, unit: units[id] ?? limited[id]?.unit ?? "",
                measured: measurements.contains(id) || (known.isEmpty && limited[id]?.discrete == nil))
        }
        return (tracks, Array(ordered.dropFirst(limits.maxParameters)))
    }

    /// Sample times in sequence order, for the hold limit.
    func sampleTimes(_ checkpoint: () throws -> Void) throws -> [Double] {
        var times: [Double] = []
        for run in runs {
            try connection.forEachChunk("""
                SELECT extract(epoch FROM s.time)::float8 AS time_s FROM samples s
                WHERE s.site = $1 AND s.epoch = $2 AND s.stream = $3 AND s.seq BETWEEN $4::bigint AND $5::bigint AND s.batch = $6
                ORDER BY s.seq
                """, [site, run.epoch, run.stream, String(run.firstSeq), String(run.lastSeq), batch],
                chunk: max(limits.chunk, 50_000), checkpoint: checkpoint) { rows in
                let timeColumn = rows.column("time_s")
                for r in 0..<rows.rowCount { if let t = rows.double(r, timeColumn), t.isFinite { times.append(t) } }
            }
        }
        return times
    }

    /// The device's batch start and end as its events say.
    func eventWindow() throws -> (started: Double?, ended: Double?) {
        let r = try connection.execute("""
            SELECT extract(epoch FROM min(time) FILTER (WHERE kind = 'batch_started'))::float8 AS started_s,
                   extract(epoch FROM max(time) FILTER (WHERE kind = 'batch_ended'))::float8 AS ended_s
            FROM events WHERE site = $1 AND batch = $2 AND device = $3 AND kind IN ('batch_started', 'batch_ended')
            """, [site, batch, device])
        return (r.double(0, "started_s"), r.double(0, "ended_s"))
    }

    /// Time, phase, whether the sample is too large to read, and its `values` and `quality` as
    /// stored (NULL when too large), for `StoredSampleValues` to take the parameters out of.
    /// `$7` is the largest `values` (or `quality`) read, in bytes.
    static let valuesQuery = """
        SELECT extract(epoch FROM s.time)::float8 AS time_s, s.phase, x.oversized,
               CASE WHEN NOT x.oversized THEN s."values"::text END AS values_text,
               CASE WHEN NOT x.oversized THEN s.quality::text END AS quality_text
        FROM samples s
        CROSS JOIN LATERAL (SELECT octet_length(s."values"::text) > $7::int OR coalesce(octet_length(s.quality::text), 0) > $7::int AS oversized) x
        WHERE s.site = $1 AND s.epoch = $2 AND s.stream = $3 AND s.seq BETWEEN $4::bigint AND $5::bigint AND s.batch = $6
        ORDER BY s.seq
        """

    /// Each sample of a chunk of `valuesQuery`: its time, phase, whether it was too large to read,
    /// and the parameters' values coded as `StoredSampleValues` codes them (nil for all when too large).
    static func forEachSample(_ rows: PostgresResult, parameters: [String],
                              _ body: (_ time: Double, _ phase: String?, _ oversized: Bool, _ coded: [String?]) throws -> Void) rethrows {
        // The columns found by name once a chunk, not once a value: a batch has millions of values.
        let timeColumn = rows.column("time_s"), phaseColumn = rows.column("phase"), oversizedColumn = rows.column("oversized")
        let valuesColumn = rows.column("values_text"), qualityColumn = rows.column("quality_text")
        let nothing = [String?](repeating: nil, count: parameters.count), reader = StoredSampleValues(parameters: parameters)
        for r in 0..<rows.rowCount {
            guard let time = rows.double(r, timeColumn), time.isFinite else { continue }
            let oversized = rows.bool(r, oversizedColumn) == true
            let coded = oversized ? nothing : reader.coded(values: rows.bytes(r, valuesColumn), quality: rows.bytes(r, qualityColumn))
            try body(time, rows.string(r, phaseColumn), oversized, coded)
        }
    }

    /// A value coded by `StoredSampleValues` as the statistics see it.
    static func observed(_ text: String?) -> BatchStatistics.Observed? {
        guard let text, let kind = text.first else { return nil }
        let rest = text.dropFirst()
        switch kind {
        case "n": return Double(rest).flatMap { $0.isFinite ? .number($0) : nil }
        case "s": return .label(String(rest))
        case "b": return .flag(rest == "true")
        default: return nil
        }
    }
}
