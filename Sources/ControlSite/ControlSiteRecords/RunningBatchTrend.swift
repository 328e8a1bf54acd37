import Foundation

/// A running batch as its minute rollups (`sample_minutes`) show it, for a batch too long to be
/// read whole while it runs: per device and parameter, the lowest and highest value of each
/// stretch of minutes to plot, and per phase the samples, lowest, highest and time-weighted
/// mean. It reads no sample, so it costs the same after a day as after a month. Excursions,
/// unmonitored time, the site's record and signatures wait for the batch's end.
public struct RunningBatchTrend: Sendable {
    public struct Phase: Sendable {
        public var phase: String
        public var spec: String
        public var first: Double
        public var last: Double
        public var samples: Int64
    }

    /// A stretch of minutes of one parameter: nil values where no number was read well.
    public struct Stretch: Sendable {
        public var start: Double
        public var end: Double
        public var lo: Double?
        public var hi: Double?
    }

    public struct PhaseSummary: Sendable {
        public var phase: String
        public var samples: Int64
        public var readWell: Int64
        public var lo: Double?
        public var hi: Double?
        /// Each number held until the stream's next record, at most a minute (`MinuteRollups`).
        public var mean: Double?
    }

    public struct Parameter: Sendable {
        public var name: String
        public var stretches: [Stretch]
        public var phases: [PhaseSummary]
    }

    public struct Device: Sendable {
        public var device: String
        public var stream: String
        public var phases: [Phase]
        /// Samples of the batch stored, and of those in the rollups (fewer where some were
        /// stored before the rollups were kept).
        public var samples: Int64
        public var rolledUp: Int64
        public var parameters: [Parameter]
        public var parametersLeftOut: [String]
        public var start: Double { phases.map(\.first).min() ?? 0 }
        public var end: Double { phases.map(\.last).max() ?? 0 }
    }

    public var site: String
    public var batch: String
    public var devices: [Device]

    /// Whether the batch is running (its end has not arrived) and a device of it has more than
    /// `samples` samples: then its page comes from the rollups.
    public static func isLongAndRunning(site: String, batch: String, samples: Int, on connection: PostgresConnection) throws -> Bool {
        guard try !PreparedBatchReviews.hasEnded(site: site, batch: batch, on: connection) else { return false }
        let most = try connection.execute("""
            SELECT coalesce(max(n), 0) AS most FROM (SELECT sum(samples) AS n FROM batch_runs WHERE site = $1 AND batch = $2 GROUP BY device) d
            """, [site, batch])
        return (most.int(0, "most") ?? 0) > Int64(samples)
    }

    /// The batch's devices and their rollups; nil when the batch has no samples here. `stretches`:
    /// how many stretches of minutes a plot gets at most; `maxParameters`: parameters per device.
    public static func load(site: String, batch: String, stretches: Int, maxParameters: Int, on connection: PostgresConnection) throws -> RunningBatchTrend? {
        let runs = try connection.execute("""
            SELECT device, epoch, stream, phase, spec, extract(epoch FROM first_time)::float8 AS first_s,
                   extract(epoch FROM last_time)::float8 AS last_s, samples
            FROM batch_runs WHERE site = $1 AND batch = $2 ORDER BY device, epoch, stream, first_time
            """, [site, batch])
        guard runs.rowCount > 0 else { return nil }
        var byStream: [(key: [String], phases: [Phase])] = []
        for row in runs.map({ $0 }) {
            let key = [row.string("device") ?? "", row.string("epoch") ?? "", row.string("stream") ?? ""]
            let phase = Phase(phase: row.string("phase") ?? "", spec: row.string("spec") ?? "", first: row.double("first_s") ?? 0,
                              last: row.double("last_s") ?? 0, samples: row.int("samples") ?? 0)
            if byStream.last?.key == key { byStream[byStream.count - 1].phases.append(phase) } else { byStream.append((key, [phase])) }
        }
        var devices: [Device] = []
        for (key, phases) in byStream {
            let (device, epoch, stream) = (key[0], key[1], key[2])
            let firstMinute = Int64((phases.map(\.first).min() ?? 0) / 60), lastMinute = Int64(((phases.map(\.last).max() ?? 0) / 60).rounded(.down))
            let width = max(1, (lastMinute - firstMinute + 1 + Int64(max(1, stretches)) - 1) / Int64(max(1, stretches)))
            let k = [site, epoch, stream, batch, String(firstMinute), String(lastMinute), String(width)]
            // One read of the device's minutes gives both: per phase and parameter, and per
            // stretch and parameter (the second for the parameters shown only, chosen below).
            let rows = try connection.execute("""
                SELECT grouping(phase) AS by_stretch, parameter, phase, stretch, sum(samples) AS samples, sum(n) AS n,
                       min(lo) AS lo, max(hi) AS hi, sum(wsum) / nullif(sum(held), 0) AS mean, min(minute) AS first_minute
                FROM (SELECT parameter, phase, (minute - $5::bigint) / $7::bigint AS stretch, minute, samples, n, lo, hi, wsum, held
                      FROM sample_minute_values
                      WHERE site = $1 AND epoch = $2 AND stream = $3 AND batch = $4 AND minute BETWEEN $5::bigint AND $6::bigint) v
                GROUP BY GROUPING SETS ((parameter, phase), (parameter, stretch))
                ORDER BY by_stretch, parameter, first_minute, stretch
                """, k)
            var names: [String] = [], phaseSummaries: [String: [PhaseSummary]] = [:], counted: [String: Int64] = [:]
            var byName: [String: [Stretch]] = [:]
            let byStretchColumn = rows.column("by_stretch"), parameterColumn = rows.column("parameter"), phaseColumn = rows.column("phase")
            let stretchColumn = rows.column("stretch"), samplesColumn = rows.column("samples"), nColumn = rows.column("n")
            let loColumn = rows.column("lo"), hiColumn = rows.column("hi"), meanColumn = rows.column("mean")
            for r in 0..<rows.rowCount {
                guard let name = rows.string(r, parameterColumn) else { continue }
                if rows.int(r, byStretchColumn) == 1 {
                    guard let index = rows.int(r, stretchColumn) else { continue }
                    let start = Double(firstMinute + index * width) * 60
                    byName[name, default: []].append(Stretch(start: start, end: start + Double(width) * 60,
                                                             lo: rows.double(r, loColumn), hi: rows.double(r, hiColumn)))
                    continue
                }
                if phaseSummaries[name] == nil { names.append(name) }
                let summary = PhaseSummary(phase: rows.string(r, phaseColumn) ?? "", samples: rows.int(r, samplesColumn) ?? 0,
                                           readWell: rows.int(r, nColumn) ?? 0, lo: rows.double(r, loColumn),
                                           hi: rows.double(r, hiColumn), mean: rows.double(r, meanColumn))
                phaseSummaries[name, default: []].append(summary)
                counted[name, default: 0] += summary.samples
            }
            // Numbers only (labels and flags are counted, never plotted), as many as a page shows.
            let numeric = names.filter { name in phaseSummaries[name]?.contains { $0.readWell > 0 } == true }
            let shown = Array(numeric.prefix(max(0, maxParameters)))
            let parameters = shown.map { Parameter(name: $0, stretches: byName[$0] ?? [], phases: phaseSummaries[$0] ?? []) }
            devices.append(Device(
                device: device, stream: stream, phases: phases, samples: phases.reduce(0) { $0 + $1.samples },
                rolledUp: counted.values.max() ?? 0, parameters: parameters, parametersLeftOut: Array(numeric.dropFirst(shown.count))))
        }
        return RunningBatchTrend(site: site, batch: batch, devices: devices)
    }
}
