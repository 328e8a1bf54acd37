import Foundation
import POCareContract
import TestSupport

extension SiteFeed {
    /// A finished batch as a site publishes it: samples `seqs` of `device` (one a second, the
    /// values `values(seq)`), then the site's batch record of them on the device's event stream
    /// (event `eventSeq`), agreeing with the samples, the clock synchronised throughout.
    func finishedBatch(
        _ device: String, _ seqs: ClosedRange<Int64>, batch: String, spec: String, phase: String = "expansion", eventSeq: Int64,
        unmonitored: [BatchReport.UnmonitoredInterval] = [], excursions: [BatchReport.Excursion] = [],
        values: (Int64) -> [String: Double] = { _ in ["temperature": 37.0, "ph": 7.2] }
    ) throws -> [Message] {
        let telemetry = self.telemetry(device, seqs, batch: batch, phase: phase, spec: spec, values: values)
        var report = BatchReport(batch: batch, device: device, spec: spec, started: Contract.format(start.addingTimeInterval(Double(seqs.lowerBound))),
                                 ended: Contract.format(start.addingTimeInterval(Double(seqs.upperBound))))
        report.samples = seqs.count
        var byParameter: [String: [Double]] = [:]
        for seq in seqs { for (k, v) in values(seq) { byParameter[k, default: []].append(v) } }
        let duration = Double(seqs.count - 1)
        report.phases = [BatchReport.Phase(phase: phase, durationS: duration, parameters: byParameter.keys.sorted().map { key in
            var p = BatchReport.ParameterSummary(parameter: key, unit: "")
            let list = byParameter[key] ?? []
            p.samples = list.count
            p.min = list.min()
            p.max = list.max()
            p.monitoredS = duration - unmonitored.reduce(0) { $0 + $1.durationS }
            p.unmonitoredS = unmonitored.reduce(0) { $0 + $1.durationS }
            return p
        })]
        report.unmonitored = unmonitored
        report.unmonitoredS = unmonitored.reduce(0) { $0 + $1.durationS }
        report.excursions = excursions
        report.clock = .init(synchronisedThroughout: true, events: [])
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let record = String(decoding: try encoder.encode(report), as: UTF8.self)
        let end = SiteFeed(site: site, root: root, start: start.addingTimeInterval(Double(seqs.upperBound) - Double(eventSeq) + 1), epoch: epoch)
        let event = end.event(device, seq: eventSeq, kind: "batch_record", batch: batch, phase: phase, spec: spec,
                              body: "{\"kind\":\"batch_record\",\"reason\":\"batch ended\",\"record\":\(record)}")
        return [telemetry, event]
    }
}
