import ControlAPI
import Foundation
import POCareCore
import POCareContract

/// The batch record as an operator reads it in a terminal: identity and equipment, phases
/// with their statistics, then every interval and event a reviewer has to see.
enum BatchReportTable {
    static func write(_ r: POCareContract.BatchReport, batch: String) {
        writeHeader(r, batch: batch)
        writePhases(r)
        writeEvents(r)
        if let service = r.alarmService { writeAlarmService(service) }
    }

    private static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", $0) } ?? "-" }
    private static func seconds(_ v: Double?) -> String { v.map { String(format: "%.0f s", $0) } ?? "-" }

    /// Spec and its release, equipment, start and end, clock and what went unmonitored.
    private static func writeHeader(_ r: POCareContract.BatchReport, batch: String) {
        print(Paint.bold("Batch \(batch) on \(r.device)"))
        print("spec        \(text(r.specIdentity.document)) version \(text(r.specIdentity.version)), approved by \(text(r.specIdentity.approvedBy)) on \(text(r.specIdentity.approvalDate)), \(text(r.specIdentity.changeControl))")
        print("            \(r.spec)")
        if let release = r.specRelease {
            let state = release.state == "released" ? "released" : Paint.red("NOT RELEASED")
            print("release     \(state): \(release.detail)")
            if let retired = release.retiredDuringBatch {
                print("            " + Paint.red("RETIRED during the batch") + " (\(text(retired.retiredAt)) by \(text(retired.retiredBy)): \(text(retired.reason)); received \(retired.received)); the batch finished under it")
            }
        }
        let e = r.equipment
        print("equipment   \(e.device): \(text(e.vendor)) \(text(e.model)), profile \(text(e.profile)) \(text(e.profileFingerprint))")
        print("            serial \(text(e.serialNumber)), firmware \(text(e.firmwareVersion))")
        print("started     \(r.start.time) by \(text(r.start.by)): \(text(r.start.reason))")
        if let end = r.end {
            print("ended       \(end.time) by \(text(end.by)): \(text(end.reason))")
        } else {
            print("ended       - (still running)")
        }
        let clock: String
        switch r.clock.synchronisedThroughout {
        case true?: clock = "synchronised throughout"
        case false?: clock = Paint.red("NOT synchronised throughout") + " (see clock events below)"
        case nil: clock = "no record of the clock's synchronisation"
        }
        print("clock       \(clock)")
        print("samples     \(r.samples), \(r.badReadings) readings not good")
        let unmonitored = r.unmonitoredS > 0 ? Paint.red("UNMONITORED \(String(format: "%.0f", r.unmonitoredS)) s") : "none"
        print("unmonitored \(unmonitored)")
    }

    /// The phase timeline, then per phase the statistics of every parameter.
    private static func writePhases(_ r: POCareContract.BatchReport) {
        print("\nphases")
        var timeline = [["phase", "from (UTC)", "to (UTC)", "by", "reason"]]
        for p in r.phaseTimeline { timeline.append([p.phase, p.from, text(p.to), text(p.by), text(p.reason)]) }
        print(alignedTable(timeline))
        for p in r.phases {
            print("\nphase \(p.phase) (\(seconds(p.durationS)))")
            var rows = [["parameter", "unit", "min", "max", "mean (time)", "sd", "in range", "alert", "action", "unmonitored"]]
            for row in p.parameters {
                rows.append([
                    row.parameter, row.unit, text(row.min), text(row.max), text(row.timeWeightedMean), text(row.standardDeviation),
                    pct(row.inRangePct), pct(row.alertPct), pct(row.actionPct),
                    row.unmonitoredS > 0 ? Paint.red(pct(row.unmonitoredPct)) : "0.0 %",
                ])
            }
            print(alignedTable(rows))
        }
        print("\nin range, alert and action are shares of the monitored time; unmonitored is a share of the phase")
    }

    /// Unmonitored intervals, excursions, alarms, shelves and clock events.
    private static func writeEvents(_ r: POCareContract.BatchReport) {
        print("\nunmonitored intervals: \(r.unmonitored.isEmpty ? "none" : "")")
        if !r.unmonitored.isEmpty {
            var rows = [["from (UTC)", "to (UTC)", "duration", "cause"]]
            for u in r.unmonitored { rows.append([u.from, u.to, seconds(u.durationS), u.cause]) }
            print(alignedTable(rows))
        }
        print("\nexcursions (time outside the limits, alarm delays aside): \(r.excursions.isEmpty ? "none" : "")")
        if !r.excursions.isEmpty {
            var rows = [["parameter", "phase", "start", "end", "duration", "worst", "level", "area outside", ""]]
            for e in r.excursions {
                rows.append([e.parameter ?? e.alarm, e.phase, e.start, e.end, text(e.durationS) + " s", e.worstLabel ?? text(e.worstValue),
                             e.worstLevel, text(e.areaOutside), e.openAtBatchEnd ? "OPEN AT BATCH END" : ""])
            }
            print(alignedTable(rows))
        }
        print("\nalarms: \(r.alarms.isEmpty ? "none" : "")")
        if !r.alarms.isEmpty {
            var rows = [["alarm", "raised (UTC)", "level", "value", "acknowledged by", "at", "reason", "cleared"]]
            for a in r.alarms {
                rows.append([a.alarm, a.time, text(a.level), text(a.value), text(a.acknowledgedBy), text(a.acknowledgedAt), text(a.reason),
                             a.openAtBatchEnd ? "open at batch end" : text(a.cleared)])
            }
            print(alignedTable(rows))
        }
        print("\nshelves: \(r.shelves.isEmpty ? "none" : "")")
        if !r.shelves.isEmpty {
            var rows = [["alarm", "by", "reason", "from", "until", "ended", "why"]]
            for s in r.shelves { rows.append([s.alarm, text(s.by), text(s.reason), s.from, text(s.until), text(s.ended), text(s.endReason)]) }
            print(alignedTable(rows))
        }
        if !r.clock.events.isEmpty {
            print("\nclock events")
            var rows = [["time (UTC)", "event", "detail"]]
            for c in r.clock.events { rows.append([c.time, c.kind, c.detail]) }
            print(alignedTable(rows))
        }
    }

    /// Out-of-service intervals and latched alarms, a section of its own.
    private static func writeAlarmService(_ service: POCareContract.BatchReport.AlarmService) {
        print("\nout of service: \(service.outOfService.isEmpty ? "none" : "")")
        if !service.outOfService.isEmpty {
            var rows = [["alarm or device", "from", "to", "by", "reason", "returned by", "reason"]]
            for i in service.outOfService {
                rows.append([i.target, i.from, i.to ?? "still out", text(i.takenBy), text(i.reason), text(i.returnedBy), text(i.returnReason)])
            }
            print(alignedTable(rows))
        }
        print("\nlatched alarms: \(service.latchedAlarms.isEmpty ? "none" : service.latchedAlarms.joined(separator: ", "))")
        if !service.latchResets.isEmpty {
            var rows = [["reset", "at", "by", "reason"]]
            for reset in service.latchResets { rows.append([reset.alarm, reset.time, reset.user, reset.reason]) }
            print(alignedTable(rows))
        }
    }
}
