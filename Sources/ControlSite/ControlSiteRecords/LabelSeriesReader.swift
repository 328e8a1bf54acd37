import Foundation

/// The discrete and enumerated parameters of a batch's devices (flags, status labels, text), as
/// their published metadata names them, for the batch page's state strips: each parameter's
/// label over the batch, kept only where it changes. Only the parameters named are taken out of
/// each sample, in the database; a sample larger than the page reads is skipped, and at most
/// `maxChanges` changes are kept per parameter, so neither the rows nor a forged sample decide
/// what this costs.
public enum LabelSeriesReader {
    public struct Series: Sendable, Equatable {
        public var device: String
        public var parameter: String
        /// Each change: when, and the label from then on (nil: not read well).
        public var changes: [(time: Double, label: String?)]
        /// The time of the last sample read.
        public var end: Double
        /// True when more changes happened than were kept.
        public var truncated: Bool

        public static func == (a: Series, b: Series) -> Bool {
            a.device == b.device && a.parameter == b.parameter && a.end == b.end && a.truncated == b.truncated
                && a.changes.map(\.time) == b.changes.map(\.time) && a.changes.map(\.label) == b.changes.map(\.label)
        }
    }

    public struct Limits: Sendable {
        public var maxParameters = 50
        public var maxSampleBytes = 1 << 20
        public var maxChanges = 5_000
        public init() {}
    }

    public static func load(_ connection: PostgresConnection, site: String, batch: String, limits: Limits = .init(),
                            checkpoint: () throws -> Void = {}) throws -> [Series] {
        let runs = try connection.execute("""
            SELECT device, epoch, stream, min(first_seq) AS first_seq, max(last_seq) AS last_seq FROM batch_runs WHERE site = $1 AND batch = $2
            GROUP BY device, epoch, stream ORDER BY device, min(first_time)
            """, [site, batch])
        var out: [Series] = []
        var byDevice: [String: [(epoch: String, stream: String, first: Int64, last: Int64)]] = [:]
        for row in runs.map({ $0 }) {
            guard let device = row.string("device"), let epoch = row.string("epoch"), let stream = row.string("stream"),
                  let first = row.int("first_seq"), let last = row.int("last_seq") else { continue }
            byDevice[device, default: []].append((epoch, stream, first, last))
        }
        for device in byDevice.keys.sorted() {
            let meta = try connection.execute("""
                SELECT p->>'id' AS parameter FROM device_metadata m, jsonb_array_elements(m.metadata->'parameters') p
                WHERE m.site = $1 AND m.device = $2 AND jsonb_typeof(m.metadata->'parameters') = 'array'
                  AND p->>'value' IN ('boolean', 'label', 'text')
                ORDER BY 1 LIMIT $3
                """, [site, device, String(limits.maxParameters)])
            let columns = meta.map { $0.string("parameter") }.compactMap { $0 }
            guard !columns.isEmpty else { continue }
            var series = columns.map { Series(device: device, parameter: $0, changes: [], end: 0, truncated: false) }
            let reader = StoredSampleReader(parameters: columns, maxSampleBytes: limits.maxSampleBytes, rowsPerFetch: 10_000)
            for run in byDevice[device] ?? [] {
                try reader.forEachSample(of: .init(site: site, epoch: run.epoch, stream: run.stream, seqs: run.first...run.last, batch: batch),
                                         on: connection, checkpoint: checkpoint) { time, _, oversized, coded in
                    guard !oversized else { return }
                    for i in columns.indices {
                        let label = Self.label(coded[i])
                        series[i].end = time
                        if series[i].changes.last.map({ $0.label != label }) ?? true {
                            if series[i].changes.count < limits.maxChanges { series[i].changes.append((time, label)) } else { series[i].truncated = true }
                        }
                    }
                }
            }
            out += series.filter { !$0.changes.isEmpty }
        }
        return out
    }

    /// A value coded by `StoredSampleValues` as a label: text as it is, a flag as
    /// `true`/`false`, a number (a code without a label) as its digits.
    static func label(_ text: String?) -> String? {
        guard let text, let kind = text.first else { return nil }
        let rest = String(text.dropFirst())
        return kind == "n" || kind == "s" || kind == "b" ? rest : nil
    }
}
