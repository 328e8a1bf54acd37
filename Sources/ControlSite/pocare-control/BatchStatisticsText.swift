import BatchStatistics
import ControlSiteRecords
import Foundation

/// One device's statistics and excursions as `pocare-control batch` prints them: the columns
/// of `pocarectl batch report`, from the samples held here.
enum BatchStatisticsText {
    static func show(_ d: DeviceBatchStatistics) {
        let s = d.summary
        emit("")
        var head = "\(d.device): \(d.samples) samples held, \(time(s.start)) to \(time(s.end))\(d.ended ? "" : " (the batch's end has not arrived)")"
        head += ", hold \(number(s.holdLimitS)) s, unmonitored \(number(s.unmonitoredS)) s"
        if !d.limitsKnown { head += "; the spec's limits are not held here: no time in range or excursions" }
        if d.oversizedSamples > 0 { head += "; \(d.oversizedSamples) samples too large to read" }
        if !d.parametersLeftOut.isEmpty { head += "; not followed: \(d.parametersLeftOut.joined(separator: ", "))" }
        emit(head)
        for phase in s.phases {
            emit("phase \(phase.phase) (\(number(phase.durationS)) s)")
            emitTable(["PARAMETER", "UNIT", "MIN", "MAX", "MEAN (TIME)", "SD", "IN RANGE", "ALERT", "ACTION", "UNMONITORED", "EXCURSIONS"],
                      phase.parameters.map { p in
                          [p.parameter, p.unit, text(p.min), text(p.max), text(p.timeWeightedMean), text(p.standardDeviation),
                           percent(p.inRangeShare), percent(p.alertShare), percent(p.actionShare), percent(p.unmonitoredShare),
                           p.limited ? "\(p.excursions) (\(number(p.excursionS)) s)" : "-"]
                      })
        }
        if !s.excursions.isEmpty {
            emit("excursions of \(d.device) (time outside the limits, alarm delays aside)")
            emitTable(["PARAMETER", "PHASE", "START", "END", "DURATION", "WORST", "LEVEL", "AREA OUTSIDE", ""], s.excursions.map { e in
                [e.parameter, e.phase, time(e.start), time(e.end), number(e.durationS) + " s", e.worstLabel ?? number(e.worstValue), e.worstLevel,
                 number(e.areaOutside), e.openAtBatchEnd ? "OPEN AT BATCH END" : ""]
            })
        }
    }

    static func time(_ seconds: Double) -> String { BatchStatisticsFormat.time(seconds) }
    static func number(_ x: Double) -> String { BatchStatisticsFormat.number(x) }
    static func text(_ x: Double?) -> String { x.map(number) ?? "-" }
    static func percent(_ share: Double?) -> String { share.map { String(format: "%.1f %%", $0 * 100) } ?? "-" }
}
