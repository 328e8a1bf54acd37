import Foundation
import POCareCore
import POCareContract

/// Every section of the batch record in one long table, so a spreadsheet or a validation
/// script reads all of it: `section,phase,item,field,value`.
enum BatchReportCSV {
    static func text(_ r: POCareContract.BatchReport) -> String {
        var table = Table()
        identityRows(r, into: &table)
        batchRows(r, into: &table)
        phaseRows(r, into: &table)
        eventRows(r, into: &table)
        alarmServiceRows(r, into: &table)
        return table.lines.joined(separator: "\n") + "\n"
    }

    /// The table being written; a field without a value gets no row.
    struct Table {
        var lines = ["section,phase,item,field,value"]
        mutating func row(_ section: String, _ phase: String, _ item: String, _ field: String, _ value: String?) {
            guard let value else { return }
            lines.append([section, phase, item, field, value].map(BatchReportCSV.quote).joined(separator: ","))
        }
    }

    private static func number(_ v: Double?) -> String? { v.map { formatNumber($0) } }

    /// The spec, the equipment and the spec's release.
    private static func identityRows(_ r: POCareContract.BatchReport, into table: inout Table) {
        let id = r.specIdentity
        for (field, value) in [("fingerprint", id.fingerprint), ("document", id.document), ("version", id.version), ("product", id.product),
                               ("process", id.process), ("approved_by", id.approvedBy), ("approval_date", id.approvalDate),
                               ("change_control", id.changeControl)] {
            table.row("spec", "", "", field, value)
        }
        let e = r.equipment
        for (field, value) in [("device", e.device), ("profile", e.profile), ("profile_fingerprint", e.profileFingerprint), ("vendor", e.vendor),
                               ("model", e.model), ("serial_number", e.serialNumber), ("firmware_version", e.firmwareVersion)] {
            table.row("equipment", "", "", field, value)
        }
        if let release = r.specRelease {
            table.row("spec_release", "", "", "state", release.state)
            table.row("spec_release", "", "", "detail", release.detail)
            table.row("spec_release", "", "", "release_required", release.releaseRequired ? "true" : "false")
            table.row("spec_release", "", "", "register_version", release.registerVersion.map(String.init))
            table.row("spec_release", "", "", "register_hash", release.registerHash)
            table.row("spec_release", "", "", "retired_during_batch", release.retiredDuringBatch?.retiredAt ?? (release.retiredDuringBatch != nil ? "yes" : nil))
        }
    }

    /// Start and end, samples and what went unmonitored, and the clock.
    private static func batchRows(_ r: POCareContract.BatchReport, into table: inout Table) {
        table.row("batch", "", r.batch, "start", r.start.time)
        table.row("batch", "", r.batch, "started_by", r.start.by)
        table.row("batch", "", r.batch, "start_reason", r.start.reason)
        table.row("batch", "", r.batch, "end", r.end?.time)
        table.row("batch", "", r.batch, "ended_by", r.end?.by)
        table.row("batch", "", r.batch, "end_reason", r.end?.reason)
        table.row("batch", "", r.batch, "samples", String(r.samples))
        table.row("batch", "", r.batch, "unmonitored_s", number(r.unmonitoredS))
        table.row("clock", "", "", "synchronised_throughout", r.clock.synchronisedThroughout.map { $0 ? "true" : "false" } ?? "unknown")
        for c in r.clock.events { table.row("clock", "", c.time, c.kind, c.detail) }
    }

    /// The phase timeline and each phase's statistics per parameter.
    private static func phaseRows(_ r: POCareContract.BatchReport, into table: inout Table) {
        for p in r.phaseTimeline {
            table.row("phase", p.phase, p.from, "to", p.to ?? "")
            table.row("phase", p.phase, p.from, "by", p.by)
            table.row("phase", p.phase, p.from, "reason", p.reason)
        }
        for p in r.phases {
            for s in p.parameters {
                for (field, value) in [("unit", s.unit), ("samples", String(s.samples)), ("min", number(s.min)), ("max", number(s.max)),
                                       ("mean", number(s.mean)), ("time_weighted_mean", number(s.timeWeightedMean)),
                                       ("standard_deviation", number(s.standardDeviation)), ("monitored_s", number(s.monitoredS)),
                                       ("unmonitored_s", number(s.unmonitoredS)), ("in_range_pct", number(s.inRangePct)),
                                       ("alert_pct", number(s.alertPct)), ("action_pct", number(s.actionPct)),
                                       ("unmonitored_pct", number(s.unmonitoredPct))] {
                    table.row("parameter", p.phase, s.parameter, field, value)
                }
            }
        }
    }

    /// Unmonitored intervals, excursions, alarms and shelves.
    private static func eventRows(_ r: POCareContract.BatchReport, into table: inout Table) {
        for u in r.unmonitored {
            table.row("unmonitored", "", u.from, "to", u.to)
            table.row("unmonitored", "", u.from, "duration_s", number(u.durationS))
            table.row("unmonitored", "", u.from, "cause", u.cause)
        }
        for x in r.excursions {
            let item = "\(x.alarm)@\(x.start)"
            for (field, value) in [("parameter", x.parameter), ("end", x.end), ("duration_s", number(x.durationS)),
                                   ("worst_value", number(x.worstValue)), ("worst_label", x.worstLabel),
                                   ("worst_level", x.worstLevel), ("side", x.side), ("area_outside", number(x.areaOutside)),
                                   ("open_at_batch_end", x.openAtBatchEnd ? "true" : "false")] {
                table.row("excursion", x.phase, item, field, value)
            }
        }
        for a in r.alarms {
            let item = "\(a.alarm)@\(a.time)"
            for (field, value) in [("kind", a.kind), ("level", a.level), ("value", number(a.value)), ("limit", number(a.limit)),
                                   ("acknowledged_by", a.acknowledgedBy), ("acknowledged_at", a.acknowledgedAt), ("reason", a.reason),
                                   ("cleared", a.cleared), ("open_at_batch_end", a.openAtBatchEnd ? "true" : "false")] {
                table.row("alarm", a.phase ?? "", item, field, value)
            }
        }
        for s in r.shelves {
            let item = "\(s.alarm)@\(s.from)"
            for (field, value) in [("by", s.by), ("reason", s.reason), ("until", s.until), ("ended", s.ended), ("end_reason", s.endReason)] {
                table.row("shelve", "", item, field, value)
            }
        }
    }

    /// Out of service and latch resets (the alarm-service section).
    private static func alarmServiceRows(_ r: POCareContract.BatchReport, into table: inout Table) {
        for i in r.alarmService?.outOfService ?? [] {
            let item = "\(i.target)@\(i.from)"
            for (field, value) in [("to", i.to), ("taken_by", i.takenBy), ("reason", i.reason), ("returned_by", i.returnedBy),
                                   ("return_reason", i.returnReason)] {
                table.row("out_of_service", "", item, field, value)
            }
        }
        for reset in r.alarmService?.latchResets ?? [] {
            let item = "\(reset.alarm)@\(reset.time)"
            table.row("latch_reset", "", item, "by", reset.user)
            table.row("latch_reset", "", item, "reason", reset.reason)
        }
    }

    static func quote(_ field: String) -> String {
        field.contains(",") || field.contains("\"") || field.contains("\n") ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }
}
