import POCareContract
import Foundation

/// The batch IPC record as the site built and published it (an event of kind `batch_record`),
/// checked against what the Control Site holds of the same batch. The site's record is what the
/// QP reviews; the check says whether the samples and events the Control Site received tell
/// the same story, so a record that claims less than the data shows (fewer samples, a narrower
/// range, fewer excursions) is named, and so is data the Control Site does not have yet.
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

    /// The newest record of each device's part of the batch (a record published again on
    /// request is a later copy of the same content).
    public static func load(_ connection: PostgresConnection, site: String, batch: String) throws -> [SiteBatchRecordCheck] {
        let rows = try connection.execute("""
            SELECT DISTINCT ON (device) device, stream, seq, \(SQLTime.iso("time")), (record->'event'->'record')::text
            FROM events WHERE site = $1 AND batch = $2 AND kind = 'batch_record' AND record->'event' ? 'record'
            ORDER BY device, time DESC, seq DESC
            """, [site, batch])
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var checks: [SiteBatchRecordCheck] = []
        for r in 0..<rows.rowCount {
            guard let device = rows.string(r, 0), let text = rows.string(r, 4) else { continue }
            let stream = rows.string(r, 1) ?? "", seq = rows.int(r, 2) ?? 0, received = rows.string(r, 3) ?? ""
            guard let record = try? decoder.decode(BatchReport.self, from: Data(text.utf8)) else {
                checks.append(SiteBatchRecordCheck(
                    device: device, stream: stream, seq: seq, received: received,
                    record: nil,
                    differences: ["the record at \(stream) \(seq) cannot be read as a batch record"]))
                continue
            }
            checks.append(SiteBatchRecordCheck(
                device: device, stream: stream, seq: seq, received: received, record: record,
                differences: try differences(record, site: site, batch: batch, device: device, connection)))
        }
        return checks
    }

    static func differences(
        _ record: BatchReport, site: String, batch: String, device: String, _ connection: PostgresConnection
    ) throws -> [String] {
        var found: [String] = []
        let held = try connection.execute("""
            SELECT count(*), array_to_string(array_agg(DISTINCT spec) FILTER (WHERE spec IS NOT NULL AND spec <> ''), ',')
            FROM samples s WHERE s.site = $1 AND s.device = $2 AND s.batch = $3
            """, [site, device, batch])
        let samples = Int(held.int(0, 0) ?? 0)
        if samples < record.samples {
            found.append("the site's record counts \(record.samples) samples; the Control Site holds \(samples) (\(record.samples - samples) not received)")
        } else if samples > record.samples {
            found.append("the Control Site holds \(samples) samples of the batch; the site's record counts \(record.samples)")
        }
        let specs = Set((held.string(0, 1) ?? "").split(separator: ",").map(String.init))
        if !record.spec.isEmpty, !specs.isEmpty, specs != [record.spec] {
            found.append("the record names spec \(record.spec); the samples name \(specs.sorted().joined(separator: ", "))")
        }

        // Per phase and parameter: the record's lowest and highest value must be values the
        // Control Site holds, within what it holds. A record narrower than the data is not: the
        // site may leave out samples taken while the device was not running.
        let ranges = try connection.execute("""
            SELECT s.phase, kv.key, min((kv.value)::text::numeric)::text, max((kv.value)::text::numeric)::text
            FROM samples s, json_each(s."values") kv
            WHERE s.site = $1 AND s.device = $2 AND s.batch = $3 AND json_typeof(kv.value) = 'number'
              AND NOT (coalesce(s.quality::jsonb, '{}'::jsonb) ? kv.key)
            GROUP BY 1, 2
            """, [site, device, batch])
        var held2: [String: (min: Double, max: Double)] = [:]
        for r in 0..<ranges.rowCount {
            // As text: a number beyond a double (a hostile 1e400) becomes infinite here instead of
            // failing the query.
            guard let key = ranges.string(r, 1), let lo = ranges.string(r, 2).flatMap(Double.init),
                  let hi = ranges.string(r, 3).flatMap(Double.init) else { continue }
            held2["\(ranges.string(r, 0) ?? "")/\(key)"] = (lo, hi)
        }
        for phase in record.phases {
            for p in phase.parameters {
                guard let lo = p.min, let hi = p.max, p.samples > 0 else { continue }
                guard let h = held2["\(phase.phase)/\(p.parameter)"] else {
                    found.append("\(phase.phase) \(p.parameter): the record has \(p.samples) values; the Control Site holds none")
                    continue
                }
                let slack = 1e-9 * max(1, abs(lo), abs(hi))
                if lo < h.min - slack || hi > h.max + slack {
                    found.append("\(phase.phase) \(p.parameter): the record says \(lo)...\(hi); the Control Site holds \(h.min)...\(h.max)")
                }
            }
        }

        let excursions = try connection.execute("""
            SELECT count(*) FROM events WHERE site = $1 AND device = $2 AND batch = $3 AND kind = 'excursion'
            """, [site, device, batch])
        let heldExcursions = Int(excursions.int(0, 0) ?? 0)
        let closed = record.excursions.filter { !$0.openAtBatchEnd }.count
        if heldExcursions != closed {
            found.append("the record lists \(closed) closed excursions; the Control Site holds \(heldExcursions) excursion events")
        }
        return found
    }
}
