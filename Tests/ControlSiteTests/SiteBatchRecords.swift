import BatchStatistics
import Foundation
import POCareContract
import POCareCore
import TestSupport

extension SiteFeed {
    /// A finished batch as a site publishes it: samples `seqs` of `device` (one a second, the
    /// values `values(seq)`; with `pause`, the samples after seq `pause.after` come
    /// `pause.seconds` late, so the batch has unmonitored time without a gap in the numbering),
    /// then the batch's end and the site's batch record of them on the device's event stream (events `2·eventSeq−1` and `2·eventSeq`): the
    /// numbers the site computes with the shared rule (`BatchStatistics`) over the same samples and
    /// the example spec (and names `profile`, the equipment model compare groups by), so the record passes the Control Site's verification as a real one does.
    func finishedBatch(
        _ device: String, _ seqs: ClosedRange<Int64>, batch: String, spec: String, phase: String = "expansion", eventSeq: Int64,
        profile: String? = nil, pause: (after: Int64, seconds: Double)? = nil,
        values: @escaping (Int64) -> [String: Double] = { _ in ["temperature": 37.0, "ph": 7.2] }
    ) throws -> [Message] {
        var messages: [Message] = []
        var late = self
        if let pause, seqs.contains(pause.after), pause.after < seqs.upperBound {
            late.start = start.addingTimeInterval(pause.seconds)
            messages.append(telemetry(device, seqs.lowerBound...pause.after, batch: batch, phase: phase, spec: spec, values: values))
            messages.append(late.telemetry(device, (pause.after + 1)...seqs.upperBound, batch: batch, phase: phase, spec: spec, values: values))
        } else {
            messages.append(telemetry(device, seqs, batch: batch, phase: phase, spec: spec, values: values))
        }
        func time(_ seq: Int64) -> Date {
            (pause.map { seq > $0.after } ?? false ? late.start : start).addingTimeInterval(Double(seq))
        }
        func seconds(_ date: Date) -> Double { UTCTime.parse(Contract.format(date)).map { BatchStatistics.contractTime($0) } ?? 0 }
        let started = Contract.format(time(seqs.lowerBound)), ended = Contract.format(time(seqs.upperBound))
        let rows = seqs.map { (time: seconds(time($0)), values: values($0)) }
        let summary = Self.statistics(rows, start: seconds(time(seqs.lowerBound)), end: seconds(time(seqs.upperBound)), phase: phase)
        let record = try Self.record(summary, device: device, batch: batch, spec: spec, phase: phase, profile: profile, started: started, ended: ended)
        // As a site does: the batch's end, then its record (events 2·eventSeq−1 and 2·eventSeq of the device's stream).
        let end = SiteFeed(site: site, root: root, start: time(seqs.upperBound).addingTimeInterval(2 - Double(2 * eventSeq)), epoch: epoch,
                           chains: chains)
        messages.append(end.event(device, seq: 2 * eventSeq - 1, kind: "batch_ended", batch: batch, phase: phase, spec: spec,
                                  body: "{\"kind\":\"batch_ended\",\"reason\":\"run complete\"}"))
        messages.append(end.event(device, seq: 2 * eventSeq, kind: "batch_record", batch: batch, phase: phase, spec: spec,
                                  body: "{\"kind\":\"batch_record\",\"reason\":\"batch ended\",\"record\":\(record)}"))
        return messages
    }

    /// The statistics a site computes of samples at `rows[i].time`, between `start` and `end`.
    static func statistics(_ rows: [(time: Double, values: [String: Double])], start: Double, end: Double, phase: String) -> BatchStatistics.Summary {
        let spec = RecordedBatch.spec
        let names = Set(rows.flatMap(\.values.keys)).sorted()
        var accumulator = BatchStatistics.Accumulator(
            tracks: names.map { BatchStatistics.Track(parameter: $0, unit: spec?.phase(phase)?.limits(for: $0)?.unit ?? "") }, spec: spec,
            start: start, end: end, holdLimit: BatchStatistics.holdLimit(times: rows.map(\.time)))
        for row in rows {
            accumulator.add(time: row.time, phase: phase, running: nil) { row.values[names[$0]].map { .number($0) } }
        }
        return accumulator.finish()
    }

    /// The site's batch record (JSON) of the statistics: every number the Control Site checks.
    static func record(
        _ summary: BatchStatistics.Summary, device: String, batch: String, spec: String, phase: String, profile: String?, started: String,
        ended: String
    ) throws -> String {
        var report = BatchReport(batch: batch, device: device, spec: spec, started: started, ended: ended)
        report.equipment.profile = profile
        let computed = summary.phase(phase)?.parameters ?? []
        report.samples = computed.map(\.samples).max() ?? 0
        report.holdLimitS = summary.holdLimitS
        report.phaseTimeline = [.init(phase: phase, from: started, to: ended, by: "operator", reason: "start")]
        report.phases = [.init(phase: phase, durationS: summary.phase(phase)?.durationS ?? 0, parameters: computed.map { p in
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
            r.unmonitoredPct = p.unmonitoredShare * 100
            return r
        })]
        report.unmonitored = summary.unmonitored.filter(\.counts).map { u in
            BatchReport.UnmonitoredInterval(from: Contract.format(Date(timeIntervalSince1970: u.from)), to: Contract.format(Date(timeIntervalSince1970: u.to)),
                                            durationS: u.durationS, cause: u.cause)
        }
        report.unmonitoredS = summary.unmonitoredS
        report.excursions = summary.excursions.map { e in
            var x = BatchReport.Excursion(
                alarm: "\(device)/\(e.parameter)/limit", phase: e.phase, start: Contract.format(Date(timeIntervalSince1970: e.start)),
                end: Contract.format(Date(timeIntervalSince1970: e.end)), durationS: e.durationS, worstValue: e.worstValue,
                worstLevel: e.worstLevel, side: e.side?.rawValue ?? "-", areaOutside: e.areaOutside, openAtBatchEnd: e.openAtBatchEnd)
            x.parameter = e.parameter
            return x
        }
        report.clock = .init(synchronisedThroughout: true, events: [])
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }
}
