import Hashing
import POCareContract
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
        let rows = (1...samples).map(values)
        var report = BatchReport(batch: batch, device: device, spec: spec, started: Contract.format(feed.start.addingTimeInterval(1)),
                                 ended: Contract.format(feed.start.addingTimeInterval(Double(samples + 1))))
        report.samples = Int(samples) + (recordClaimsMore ? 1 : 0)
        report.equipment.profile = profile
        report.startingMaterial = startingMaterial
        report.phaseTimeline = [.init(phase: phase, from: report.started, to: report.ended, by: "operator", reason: "start")]
        let parameters = Set(rows.flatMap(\.keys)).sorted().map { name -> BatchReport.ParameterSummary in
            let xs = rows.compactMap { $0[name] }
            let mean = xs.reduce(0, +) / Double(xs.count)
            var p = BatchReport.ParameterSummary(parameter: name, unit: "")
            p.samples = xs.count
            p.min = xs.min()
            p.max = xs.max()
            p.mean = mean
            p.timeWeightedMean = mean
            p.standardDeviation = (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count)).squareRoot()
            p.limited = true
            p.monitoredS = Double(samples)
            p.inRangePct = 100
            p.unmonitoredPct = 0
            return p
        }
        report.phases = [.init(phase: phase, durationS: Double(samples), parameters: parameters)]
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

extension IngestDatabase {
    /// A QP signs the batch "approved for release", as the batch page's form does.
    func certify(site: String, batch: String) throws {
        if try count("SELECT count(*) FROM web_users WHERE user_name = 'qp1'") == 0 {
            try WebUsers.add(userName: "qp1", fullName: "Quinn Person", role: .qp, password: "qp-password-1",
                             iterations: PasswordHash.minimumIterations, by: "test", on: connection)
        }
        _ = try BatchSignatures.sign(site: site, batch: batch, userName: "qp1", password: "qp-password-1", meaning: .approvedForRelease,
                                     comment: "certified", on: connection)
    }
}

