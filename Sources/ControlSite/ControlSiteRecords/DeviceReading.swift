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
    /// Only the samples taken within this stretch of time (a zoomed-in window of the batch);
    /// nil: every sample of the runs.
    var within: ClosedRange<Double>? = nil

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
        let reader = StoredSampleReader(parameters: columns, maxSampleBytes: limits.maxSampleBytes, rowsPerFetch: limits.chunk)
        for run in runs {
            try reader.forEachSample(of: .init(site: site, epoch: run.epoch, stream: run.stream, seqs: run.firstSeq...run.lastSeq, batch: batch),
                                     on: connection, checkpoint: checkpoint) { time, phase, isOversized, coded in
                if let within, !within.contains(time) { return }
                samples += 1
                if isOversized { oversized += 1 }
                let observed = coded.map(Self.observed)
                accumulator.add(time: time, phase: phase ?? "-", running: runningColumn.flatMap { observed[$0] }) { observed[$0] }
                for i in tracks.indices { plots?[i].add(time: time, value: observed[i]) }
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
                SELECT extract(epoch FROM s.time)::float8 AS time_s FROM stream_samples($1, $2, $3, $4::bigint, $5::bigint) s
                WHERE s.batch = $6
                ORDER BY s.seq
                """, [site, run.epoch, run.stream, String(run.firstSeq), String(run.lastSeq), batch],
                chunk: max(limits.chunk, 50_000), checkpoint: checkpoint) { rows in
                let timeColumn = rows.column("time_s")
                for r in 0..<rows.rowCount {
                    if let t = rows.double(r, timeColumn), t.isFinite, within?.contains(t) ?? true { times.append(t) }
                }
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
