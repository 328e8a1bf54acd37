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
            var sums: [String: [String: Sum]] = [:], stretchSums: [String: [Int64: Sum]] = [:]
            // Parameters by their place in the minutes' arrays, as many places as the minutes have
            // (a place no minute has costs as much to sum as one they all have), a share per read.
            let most = try connection.execute("""
                SELECT coalesce(max(cardinality(parameters)), 0) AS places FROM sample_minutes
                WHERE site = $1 AND epoch = $2 AND stream = $3 AND batch = $4 AND minute BETWEEN $5::bigint AND $6::bigint
                """, Array(k.prefix(6))).int(0, "places") ?? 0
            for from in stride(from: 1, through: Int(most), by: placesPerRead) {
                let places = from...min(Int(most), from + placesPerRead - 1)
                let rows = try connection.transaction {
                    // Groups are few (phases and stretches) where the planner expects one per
                    // minute, and would sort every minute for them rather than hash them.
                    try connection.execute("SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)")
                    return try connection.execute(minutesQuery(places), k)
                }
                let phaseColumn = rows.column("phase"), stretchColumn = rows.column("stretch"), firstColumn = rows.column("first_minute")
                let columns = places.map { i in ["p", "s", "n", "lo", "hi", "w", "h"].map { rows.column("\($0)\(i)") } }
                for r in 0..<rows.rowCount {
                    let phase = rows.string(r, phaseColumn) ?? "", stretch = rows.int(r, stretchColumn) ?? 0
                    let first = rows.int(r, firstColumn) ?? 0
                    for c in columns {
                        guard let name = rows.string(r, c[0]) else { continue }
                        let cell = MinuteRollups.Cell(samples: Int(rows.int(r, c[1]) ?? 0), n: Int(rows.int(r, c[2]) ?? 0), lo: rows.double(r, c[3]),
                                                      hi: rows.double(r, c[4]), wsum: rows.double(r, c[5]) ?? 0, held: rows.double(r, c[6]) ?? 0)
                        let part = Sum(cell: cell, firstMinute: first)
                        sums[name, default: [:]][phase, default: Sum()].merge(part)
                        stretchSums[name, default: [:]][stretch, default: Sum()].merge(part)
                    }
                }
            }
            let names = sums.keys.sorted()
            var phaseSummaries: [String: [PhaseSummary]] = [:], counted: [String: Int64] = [:]
            for name in names {
                let byPhase = (sums[name] ?? [:]).sorted { ($0.value.firstMinute, $0.key) < ($1.value.firstMinute, $1.key) }
                phaseSummaries[name] = byPhase.map { phase, sum in
                    PhaseSummary(phase: phase, samples: Int64(sum.cell.samples), readWell: Int64(sum.cell.n), lo: sum.cell.lo, hi: sum.cell.hi,
                                 mean: sum.cell.held > 0 ? sum.cell.wsum / sum.cell.held : nil)
                }
                counted[name] = byPhase.reduce(0) { $0 + Int64($1.value.cell.samples) }
            }
            // Numbers only (labels and flags are counted, never plotted), as many as a page shows.
            let numeric = names.filter { name in phaseSummaries[name]?.contains { $0.readWell > 0 } == true }
            let shown = Array(numeric.prefix(max(0, maxParameters)))
            let parameters = shown.map { name in
                let stretches = (stretchSums[name] ?? [:]).sorted { $0.key < $1.key }.map { index, sum in
                    let start = Double(firstMinute + index * width) * 60
                    return Stretch(start: start, end: start + Double(width) * 60, lo: sum.cell.lo, hi: sum.cell.hi)
                }
                return Parameter(name: name, stretches: stretches, phases: phaseSummaries[name] ?? [])
            }
            devices.append(Device(
                device: device, stream: stream, phases: phases, samples: phases.reduce(0) { $0 + $1.samples },
                rolledUp: counted.values.max() ?? 0, parameters: parameters, parametersLeftOut: Array(numeric.dropFirst(shown.count))))
        }
        return RunningBatchTrend(site: site, batch: batch, devices: devices)
    }

    /// Parameters read per query: seven columns each, within PostgreSQL's 1,664 per statement.
    static let placesPerRead = 24

    /// A device's minutes summed per phase and stretch of minutes, for the parameters at `places`
    /// in the minutes' arrays: each array element by its place, not by `unnest` (a function call
    /// per minute, most of the page's time over a month).
    static func minutesQuery(_ places: ClosedRange<Int>) -> String {
        var columns = ""
        for i in places {
            columns += ", parameters[\(i)] AS p\(i), sum(samples[\(i)]) AS s\(i), sum(n[\(i)]) AS n\(i), min(lo[\(i)]) AS lo\(i)"
                + ", max(hi[\(i)]) AS hi\(i), sum(wsum[\(i)]) AS w\(i), sum(held[\(i)]) AS h\(i)"
        }
        return """
            SELECT phase, (minute - $5::bigint) / $7::bigint AS stretch, min(minute) AS first_minute\(columns)
            FROM sample_minutes
            WHERE site = $1 AND epoch = $2 AND stream = $3 AND batch = $4 AND minute BETWEEN $5::bigint AND $6::bigint
            GROUP BY parameters, phase, stretch
            """
    }

    /// A parameter's minutes added up as the rollups add them (`MinuteRollups.Cell`): over a
    /// phase, or over a stretch of minutes; with the first minute, to order the phases.
    struct Sum {
        var cell = MinuteRollups.Cell()
        var firstMinute = Int64.max

        mutating func merge(_ other: Sum) {
            cell.merge(other.cell)
            firstMinute = Swift.min(firstMinute, other.firstMinute)
        }
    }
}
