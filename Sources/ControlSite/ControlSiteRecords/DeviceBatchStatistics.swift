import BatchStatistics
import Foundation
import POCareCore

/// One device's part of a batch as the Control Site holds it, summed up by `BatchStatistics`:
/// the rule the site's record follows, applied to the samples received here. The batch page,
/// `pocare-control batch` and comparability read a batch through this.
public struct DeviceBatchStatistics: Sendable, Codable, Equatable {
    public var device: String
    /// The spec the samples name (the one run most), and whether its limits could be read here.
    public var spec: String?
    public var limitsKnown: Bool
    /// Whether the batch's end (its `batch_ended` event) has arrived; else the window ends at the last sample.
    public var ended: Bool
    public var samples: Int
    public var summary: BatchStatistics.Summary
    /// Samples whose values were larger than the reader takes, so not read (a page says so).
    public var oversizedSamples: Int
    /// Parameters beyond the reader's limit, not followed.
    public var parametersLeftOut: [String]
    /// Per parameter, the values thinned for a plot (empty unless asked for).
    public var series: [PlotSeries]

    public func parameters(in phase: String) -> [BatchStatistics.ParameterSummary] { summary.phase(phase)?.parameters ?? [] }
}

/// A parameter's values over the batch, thinned to a few points per pixel column with breaks
/// (nil) where the values stop being monitored, so a plot of any length stays small.
public struct PlotSeries: Sendable, Codable, Equatable {
    public var parameter: String
    public var unit: String
    public var times: [Double]
    public var values: [Double?]
}

/// Reads one batch's devices from the database into `DeviceBatchStatistics`, a chunk of
/// samples at a time, with limits that keep a page's cost bounded whatever the data holds.
public enum BatchSeriesReader {
    public struct Limits: Sendable {
        /// Parameters followed per device, at most (the spec's first, then the device's measurements).
        public var maxParameters = Int.max
        /// Samples per device, at most; a device with more is refused with `TooLarge`.
        public var maxSamples = Int.max
        /// A sample whose stored values are longer than this (bytes) is counted, not read.
        public var maxSampleBytes = Int.max
        /// Rows fetched at a time.
        public var chunk = 10_000
        /// Pixel columns of the plots to thin the values for; nil: no plot series.
        public var plotColumns: Int?
        /// Follow only these parameters (comparability follows the phase's limited ones).
        public var onlyParameters: Set<String>?
        public init() {}
    }

    /// A device with more samples than the reader is allowed to take.
    public struct TooLarge: Error, CustomStringConvertible {
        public var device: String
        public var samples: Int64
        public var limit: Int
        public var description: String {
            "\(device) has \(samples) samples in the batch, more than the \(limit) a page reads; use pocare-control batch for the whole batch"
        }
    }

    /// The window to sum over, when the caller knows it (the site's record states its own).
    public struct Window: Sendable {
        public var start: Double
        public var end: Double
        public init(start: Double, end: Double) {
            self.start = start
            self.end = end
        }
    }

    struct Run {
        var epoch: String
        var stream: String
        var firstSeq: Int64
        var lastSeq: Int64
    }

    public static func load(
        _ connection: PostgresConnection, site: String, batch: String, device only: String? = nil,
        specs: (String) throws -> IPCSpec?, windows: [String: Window] = [:], limits: Limits = .init(),
        checkpoint: () throws -> Void = {}
    ) throws -> [DeviceBatchStatistics] {
        let rows = try connection.execute("""
            SELECT device, epoch, stream, min(first_seq) AS first_seq, max(last_seq) AS last_seq, sum(samples) AS sample_count,
                   (array_agg(nullif(spec, '') ORDER BY samples DESC) FILTER (WHERE spec <> ''))[1] AS main_spec
            FROM batch_runs WHERE site = $1 AND batch = $2 AND ($3::text IS NULL OR device = $3)
            GROUP BY device, epoch, stream ORDER BY device, min(first_time)
            """, [site, batch, only])
        var devices: [(device: String, runs: [Run], samples: Int64, spec: String?)] = []
        for row in rows.map({ $0 }) {
            guard let device = row.string("device"), let epoch = row.string("epoch"), let stream = row.string("stream"),
                  let first = row.int("first_seq"), let last = row.int("last_seq") else { continue }
            let run = Run(epoch: epoch, stream: stream, firstSeq: first, lastSeq: last)
            if let i = devices.firstIndex(where: { $0.device == device }) {
                devices[i].runs.append(run)
                devices[i].samples += row.int("sample_count") ?? 0
                devices[i].spec = devices[i].spec ?? row.string("main_spec")
            } else {
                devices.append((device, [run], row.int("sample_count") ?? 0, row.string("main_spec")))
            }
        }
        return try devices.map { d in
            guard d.samples <= Int64(limits.maxSamples) else { throw TooLarge(device: d.device, samples: d.samples, limit: limits.maxSamples) }
            try checkpoint()
            let spec = try d.spec.flatMap(specs)
            let reading = DeviceReading(
                connection: connection, site: site, batch: batch, device: d.device, runs: d.runs, spec: spec, limits: limits)
            var result = try reading.read(window: windows[d.device], checkpoint: checkpoint)
            result.spec = d.spec
            result.limitsKnown = spec != nil
            return result
        }
    }
}
