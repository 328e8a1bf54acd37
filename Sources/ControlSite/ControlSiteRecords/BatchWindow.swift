import Foundation
import POCareContract
import POCareCore

/// One device's samples of a batch within a stretch of time, read from the records themselves:
/// what a page shows when it zooms in on a batch whose plots otherwise come from its minute
/// rollups or from values thinned to the page's width. Only the window's records are read,
/// whatever the batch's length: the stream's numbers in the window are found from the rows'
/// times and from the chunks' ten-minute buckets, never by reading the batch.
public enum BatchWindow {
    /// The window asked for, and the device's samples in it, summed as a batch page sums them.
    public struct Reading: Sendable {
        public var device: String
        public var start: Double
        public var end: Double
        public var statistics: DeviceBatchStatistics
        /// The batch's phases on the device that reach into the window, with their specs.
        public var phases: [(phase: String, spec: String, first: Double, last: Double)]
    }

    /// A window the page does not read, with why.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The widest window a page reads, in seconds (a week); narrower windows are bounded by samples.
    public static let longestSeconds = 7.0 * 86_400

    /// Reads the window; nil when the batch has no samples of `device` here. Refuses a window
    /// that is empty, reversed, wider than `longestSeconds`, or reaching more numbers than
    /// `limits.maxSamples` (`BatchSeriesReader.TooLarge`): counted from the first to the last
    /// row or chunk it touches, which is what is read (a chunk at an edge is read whole).
    public static func load(
        _ connection: PostgresConnection, site: String, batch: String, device: String, from start: Double, to end: Double,
        specs: (String) throws -> IPCSpec?, limits: BatchSeriesReader.Limits, checkpoint: () throws -> Void = {}
    ) throws -> Reading? {
        // Beyond the times a record can carry, PostgreSQL would refuse the timestamp itself.
        guard start >= 0, end < 1e11 else {
            throw Refusal(description: "the window must lie between 1970 and the year 5000")
        }
        guard start.isFinite, end.isFinite, start < end else {
            throw Refusal(description: "the window must end after it starts")
        }
        guard end - start <= longestSeconds else {
            throw Refusal(description: "the window is longer than a week: choose a shorter one")
        }
        // A window never reads as empty what was archived: the month is named, with the way back.
        // A window of a week at most spans two months, which its ends name.
        let reached = Set([start, end].map { String(Contract.format(Date(timeIntervalSince1970: $0)).prefix(7)) })
        if let archived = try SampleArchive.archivedMonths(site: site, batch: batch, on: connection).first(where: { reached.contains($0.month) }) {
            throw Refusal(description: "the window reaches into \(archived.month), whose samples are archived in \(archived.location); "
                          + "`pocare-control restore --month \(archived.month) --from DIR` brings them back")
        }
        let rows = try connection.execute("""
            SELECT epoch, stream, phase, spec, first_seq, last_seq,
                   extract(epoch FROM first_time)::float8 AS first_s, extract(epoch FROM last_time)::float8 AS last_s, samples
            FROM batch_runs WHERE site = $1 AND batch = $2 AND device = $3 ORDER BY first_time
            """, [site, batch, device])
        guard rows.rowCount > 0 else { return nil }
        var runs: [BatchSeriesReader.Run] = []
        var phases: [(phase: String, spec: String, first: Double, last: Double)] = []
        var mainSpec: (spec: String, samples: Int64)?
        // Per stream once, however many of its phases the batch ran.
        var found: [String: ClosedRange<Int64>?] = [:]
        for row in rows.map({ $0 }) {
            guard let epoch = row.string("epoch"), let stream = row.string("stream"),
                  let first = row.int("first_seq"), let last = row.int("last_seq") else { continue }
            let spec = row.string("spec") ?? "", samples = row.int("samples") ?? 0
            if !spec.isEmpty, samples > (mainSpec?.samples ?? -1) { mainSpec = (spec, samples) }
            let firstTime = row.double("first_s") ?? 0, lastTime = row.double("last_s") ?? 0
            if firstTime <= end && lastTime >= start { phases.append((row.string("phase") ?? "", spec, firstTime, lastTime)) }
            // A run's numbers narrowed to those stored within the window.
            let key = epoch + "\u{0}" + stream
            if found[key] == nil { found[key] = .some(try numbers(site: site, epoch: epoch, stream: stream, from: start, to: end, on: connection)) }
            guard let numbers = found[key] ?? nil, numbers.lowerBound <= last, numbers.upperBound >= first else { continue }
            let narrowed = BatchSeriesReader.Run(epoch: epoch, stream: stream, firstSeq: max(first, numbers.lowerBound),
                                                 lastSeq: min(last, numbers.upperBound))
            if let same = runs.firstIndex(where: { $0.epoch == epoch && $0.stream == stream }) {
                runs[same].firstSeq = min(runs[same].firstSeq, narrowed.firstSeq)
                runs[same].lastSeq = max(runs[same].lastSeq, narrowed.lastSeq)
            } else {
                runs.append(narrowed)
            }
        }
        let numbered = runs.reduce(Int64(0)) { $0 + $1.lastSeq - $1.firstSeq + 1 }
        guard numbered <= Int64(limits.maxSamples) else {
            throw BatchSeriesReader.TooLarge(device: device, samples: numbered, limit: limits.maxSamples)
        }
        let spec = try mainSpec.flatMap { try specs($0.spec) }
        let reading = DeviceReading(connection: connection, site: site, batch: batch, device: device, runs: runs, spec: spec,
                                    limits: limits, within: start...end)
        var statistics = try reading.read(window: .init(start: start, end: end), checkpoint: checkpoint)
        statistics.spec = mainSpec?.spec
        return Reading(device: device, start: start, end: end, statistics: statistics, phases: phases)
    }

    /// The lowest and highest number of the stream's records stored with a time in the window,
    /// rows and chunks alike; nil when none is. A chunk holds the records of one ten-minute
    /// bucket, so one that starts more than ten minutes before the window holds none of it; a
    /// chunk reaching past the window's edges is read and its records outside left.
    static func numbers(site: String, epoch: String, stream: String, from start: Double, to end: Double,
                        on connection: PostgresConnection) throws -> ClosedRange<Int64>? {
        let found = try connection.execute("""
            SELECT min(lo) AS lo, max(hi) AS hi FROM (
                SELECT min(seq) AS lo, max(seq) AS hi FROM samples
                WHERE site = $1 AND epoch = $2 AND stream = $3 AND time BETWEEN to_timestamp($4::float8) AND to_timestamp($5::float8)
                UNION ALL
                SELECT min(seq_first), max(seq_first + n - 1) FROM sample_chunks
                WHERE site = $1 AND epoch = $2 AND stream = $3
                  AND time_first > to_timestamp($4::float8) - interval '600 seconds' AND time_first <= to_timestamp($5::float8)
            ) w
            """, [site, epoch, stream, String(start), String(end)])
        guard let lo = found.int(0, "lo"), let hi = found.int(0, "hi"), lo <= hi else { return nil }
        return lo...hi
    }
}
