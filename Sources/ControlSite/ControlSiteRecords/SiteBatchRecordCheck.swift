import BatchStatistics
import POCareContract
import Foundation
import POCareCore

/// The batch IPC record as the site built and published it (an event of kind `batch_record`),
/// checked against what the Control Site holds of the same device's part of the batch. The
/// site's record is what the QP reviews; the check recomputes its numbers from the samples
/// received here with the same rule (`BatchStatistics`), over the record's own start and end,
/// so a record that claims other numbers than the data shows (fewer samples, a narrower range,
/// another mean, a missing excursion, another device's data) is named, and so is data the
/// Control Site does not have yet.
public struct SiteBatchRecordCheck: Sendable, Codable, Equatable {
    /// Where the record arrived: the device's event stream and its number there.
    public var device: String
    public var stream: String
    public var seq: Int64
    public var received: String
    /// Nil when the published record cannot be read as a batch record (said in `differences`).
    public var record: BatchReport?
    /// Each way the Control Site's data differs from the record; empty when they agree.
    public var differences: [String]
    /// What could not be checked here, and why (the spec's limits not held): said, not a difference.
    public var notes: [String] = []

    /// The newest record of each device's part of the batch (a record published again on
    /// request is a later copy of the same content).
    public static func load(
        _ connection: PostgresConnection, site: String, batch: String, specs: (String) throws -> IPCSpec?,
        checkpoint: () throws -> Void = {}
    ) throws -> [SiteBatchRecordCheck] {
        let rows = try connection.execute("""
            SELECT DISTINCT ON (device) device, stream, seq, \(SQLTime.iso("time")) AS time_utc, (record->'event'->'record')::text AS site_record
            FROM events WHERE site = $1 AND batch = $2 AND kind = 'batch_record' AND record->'event' ? 'record'
            ORDER BY device, time DESC, seq DESC
            """, [site, batch])
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var checks: [SiteBatchRecordCheck] = []
        for row in rows.map({ $0 }) {
            guard let device = row.string("device"), let text = row.string("site_record") else { continue }
            let stream = row.string("stream") ?? "", seq = row.int("seq") ?? 0, received = row.string("time_utc") ?? ""
            // A record that does not decode is itself the finding, recorded as a difference below.
            guard let record = try? decoder.decode(BatchReport.self, from: Data(text.utf8)) else {
                checks.append(SiteBatchRecordCheck(
                    device: device, stream: stream, seq: seq, received: received,
                    record: nil,
                    differences: ["the record at \(stream) \(seq) cannot be read as a batch record"]))
                continue
            }
            var notes: [String] = []
            let found = try differences(record, site: site, batch: batch, device: device, specs: specs, connection,
                                        checkpoint: checkpoint, notes: &notes)
            checks.append(SiteBatchRecordCheck(
                device: device, stream: stream, seq: seq, received: received, record: record, differences: found, notes: notes))
        }
        return checks
    }

    static func differences(
        _ record: BatchReport, site: String, batch: String, device: String, specs: (String) throws -> IPCSpec?,
        _ connection: PostgresConnection, checkpoint: () throws -> Void, notes: inout [String]
    ) throws -> [String] {
        var found: [String] = []
        if record.device != device || record.batch != batch {
            found.append("the record is of batch \(record.batch) on \(record.device) but arrived on \(device)'s stream for batch \(batch)")
        }
        var windows: [String: BatchSeriesReader.Window] = [:]
        if let start = Self.seconds(record.started) {
            windows[device] = .init(start: start, end: record.ended.flatMap(Self.seconds) ?? start)
        }
        let held = try BatchSeriesReader.load(
            connection, site: site, batch: batch, device: device, specs: specs, windows: windows, checkpoint: checkpoint).first
        let samples = held?.samples ?? 0
        if samples < record.samples {
            found.append("the site's record counts \(record.samples) samples; the Control Site holds \(samples) (\(record.samples - samples) not received)")
        } else if samples > record.samples {
            found.append("the Control Site holds \(samples) samples of the batch; the site's record counts \(record.samples)")
        }
        guard let held else { return found }
        if let spec = held.spec, !record.spec.isEmpty, spec != record.spec {
            found.append("the record names spec \(record.spec); the samples name \(spec)")
        }
        if !held.limitsKnown && !record.spec.isEmpty {
            notes.append("the limits of spec \(record.spec) are not held here (neither released nor published by the site): time in range and excursions not checked")
        }
        found += StatisticsComparison(record: record, held: held.summary, limitsKnown: held.limitsKnown).differences()
        return found
    }

    static func seconds(_ text: String) -> Double? {
        UTCTime.parse(text).map { BatchStatistics.contractTime($0) }
    }
}
