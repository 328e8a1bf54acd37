import BatchStatistics
import Hashing
import POCareConfig
import POCareCore
import POCareContract
import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Foundation
import TestSupport
import Testing

/// Batches as a site records and publishes them: samples of one phase, the batch's end and the
/// site's batch record (the statistics the site computed from those samples), so the Control
/// Site's comparison reads what it reads from real sites.
struct RecordedBatch {
    var site: String
    var device: String
    var batch: String
    var profile = "stirred-tank-str10"
    var phase = "expansion"
    var samples: Int64 = 600
    var startingMaterial: String? = nil
    var ended = true
    /// Claims one sample more than it sent, so its record fails verification.
    var recordClaimsMore = false
    var values: (Int64) -> [String: Double]

    init(site: String, device: String, batch: String, values: @escaping (Int64) -> [String: Double]) {
        self.site = site
        self.device = device
        self.batch = batch
        self.values = values
    }

    func write(to db: IngestDatabase, spec: String) throws {
        let feed = SiteFeed(site: site)
        try db.write([feed.telemetry(device, 1...samples, batch: batch, phase: phase, spec: spec, values: values)])
        guard ended else { return }
        var report = BatchReport(batch: batch, device: device, spec: spec, started: Contract.format(feed.start.addingTimeInterval(1)),
                                 ended: Contract.format(feed.start.addingTimeInterval(Double(samples + 1))))
        report.samples = Int(samples) + (recordClaimsMore ? 1 : 0)
        report.equipment.profile = profile
        report.startingMaterial = startingMaterial
        report.phaseTimeline = [.init(phase: phase, from: report.started, to: report.ended, by: "operator", reason: "start")]
        // The numbers as the site computes them: the shared rule over the same samples and the spec the batch ran.
        let summary = Self.statistics(of: (1...samples).map(values), start: feed.start.timeIntervalSince1970 + 1, phase: phase)
        report.holdLimitS = summary.holdLimitS
        let computed = summary.phase(phase)?.parameters ?? []
        let parameters = computed.map { p -> BatchReport.ParameterSummary in
            var r = BatchReport.ParameterSummary(parameter: p.parameter, unit: p.unit)
            r.samples = p.samples
            r.min = p.min
            r.max = p.max
            r.mean = p.mean
            r.timeWeightedMean = p.timeWeightedMean
            r.standardDeviation = p.standardDeviation
            r.limited = p.limited
            r.monitoredS = p.monitoredS
            r.unmonitoredS = p.unmonitoredS
            r.inRangeS = p.inRangeS
            r.alertS = p.alertS
            r.actionS = p.actionS
            r.inRangePct = p.inRangeShare.map { $0 * 100 }
            r.alertPct = p.alertShare.map { $0 * 100 }
            r.actionPct = p.actionShare.map { $0 * 100 }
            r.unmonitoredPct = p.unmonitoredShare * 100
            return r
        }
        report.excursions = summary.excursions.map { e in
            var x = BatchReport.Excursion(
                alarm: "\(device)/\(e.parameter)/limit", phase: e.phase, start: Contract.format(Date(timeIntervalSince1970: e.start)),
                end: Contract.format(Date(timeIntervalSince1970: e.end)), durationS: e.durationS, worstValue: e.worstValue,
                worstLevel: e.worstLevel, side: e.side?.rawValue ?? "-", areaOutside: e.areaOutside, openAtBatchEnd: e.openAtBatchEnd)
            x.parameter = e.parameter
            return x
        }
        report.phases = [.init(phase: phase, durationS: summary.phase(phase)?.durationS ?? 0, parameters: parameters)]
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try encoder.encode(report), as: UTF8.self)
        try db.write([
            feed.event(device, seq: 1, kind: "batch_ended", batch: batch, phase: phase, spec: spec,
                       body: "{\"kind\":\"batch_ended\",\"reason\":\"done\"}"),
            feed.event(device, seq: 2, kind: "batch_record", batch: batch, phase: phase, spec: spec,
                       body: "{\"kind\":\"batch_record\",\"reason\":\"batch ended\",\"record\":\(text)}"),
        ])
    }
}

extension RecordedBatch {
    /// The example spec, as released in these tests.
    static let spec: IPCSpec? = SpecLoader.load(path: exampleSpec, profiles: SpecLoader.profileCatalogue(directory: shippedProfiles)).spec

    /// One sample a second from `start`, summed up by `BatchStatistics` until a second after the last.
    static func statistics(of rows: [[String: Double]], start: Double, phase: String) -> BatchStatistics.Summary {
        let names = Set(rows.flatMap(\.keys)).sorted()
        let units = Dictionary(uniqueKeysWithValues: names.map { n in (n, spec?.phase(phase)?.limits(for: n)?.unit ?? "") })
        let times = rows.indices.map { start + Double($0) }
        var accumulator = BatchStatistics.Accumulator(
            tracks: names.map { BatchStatistics.Track(parameter: $0, unit: units[$0] ?? "") }, spec: spec, start: start,
            end: start + Double(rows.count), holdLimit: BatchStatistics.holdLimit(times: times))
        for (i, row) in rows.enumerated() {
            accumulator.add(time: times[i], phase: phase, running: nil) { row[names[$0]].map { .number($0) } }
        }
        return accumulator.finish()
    }
}

extension IngestDatabase {
    /// The batch as QA reviewed it and a QP certified it, recorded as the disposition stores both
    /// signatures (bound to the record as it is now); what must be true before a QP may certify
    /// is the disposition's own test (`DispositionTests`), not these batches' concern.
    func certify(site: String, batch: String) throws {
        for (name, full, role) in [("qa1", "Quentin Assurance", WebUsers.Role.qa), ("qp1", "Quinn Person", .qp)]
        where try count("SELECT count(*) FROM web_users WHERE user_name = '\(name)'") == 0 {
            try WebUsers.add(userName: name, fullName: full, role: role, password: "\(name)-password-1", iterations: PasswordHash.minimumIterations,
                             by: "test", on: connection)
        }
        guard let hash = try BatchRecordDigest.hash(site: site, batch: batch, on: connection) else { throw TestFailure("no batch \(batch)") }
        for (user, full, role, meaning) in [("qa1", "Quentin Assurance", "qa", "reviewed"), ("qp1", "Quinn Person", "qp", "certified")] {
            try connection.execute("""
                INSERT INTO batch_signatures (site, batch, user_name, full_name, role, meaning, comment, signed, record_hash)
                VALUES ($1, $2, $3, $4, $5, $6, '', now(), $7)
                """, [site, batch, user, full, role, meaning, hash])
        }
        try connection.execute("""
            INSERT INTO batch_dispositions (site, batch, state, record_hash) VALUES ($1, $2, 'certified', $3)
            ON CONFLICT (site, batch) DO UPDATE SET state = 'certified', record_hash = excluded.record_hash, record_changed = NULL
            """, [site, batch, hash])
    }
}
