import ArgumentParser
import ControlAPI
import Foundation
import POCareCore
import POCareContract

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run batches: start, change phase, end, list, report, publish.",
        subcommands: [BatchStart.self, BatchPhase.self, BatchEnd.self, BatchList.self, BatchReport.self, BatchPublish.self])
}

struct BatchStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a batch on a device, held to an approved spec (audited).",
        discussion: "Example:\n  pocarectl batch start rocker-1 --batch CART-0042 --spec /etc/pocare/specs/cart.yaml --phase activation")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Option(help: "Batch id.") var batch: String
    @Option(help: """
        Spec file in the site's spec folder (spec_dir), or a fingerprint: in full, or its first 12 or more hex digits \
        where they name one released spec (or one the daemon knows). It must be released for the device's equipment model.
        """)
    var spec: String
    @Option(help: "Starting phase (default: the phase the device reports, else the spec's first).") var phase: String?
    @Flag(help: "Follow the device's phase parameter (the default where the device reports one).") var followDevicePhase = false
    @Flag(help: "On a device that reports its phase: do not follow it, set phases by hand (audited).") var manualPhase = false
    @Option(help: "The starting material's id, where the batch is one of a split source (the yearly comparability check pairs them).")
    var startingMaterial: String?
    @Option(help: "Why, for the audit trail (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        // A file named relative to here means nothing to the daemon: send where it is.
        let reference = FileManager.default.fileExists(atPath: spec) ? URL(fileURLWithPath: spec).standardizedFileURL.path : spec
        let r = try daemon.batchAction(.batchStart(ControlAPI.BatchStart(
            device: device, batch: batch, spec: reference, phase: phase, followDevicePhase: followDevicePhase, manualPhase: manualPhase,
            reason: reason, startingMaterial: startingMaterial)))
        if json { return printJSON(r) }
        print("batch \(text(r.batch)) started on \(device) in phase \(text(r.phase)), spec \(text(r.spec))")
        for note in r.notes ?? [] { print("note: \(note)") }
    }
}

struct BatchPhase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phase", abstract: "Move a device's batch to another phase of its spec (audited).",
        discussion: """
            On a device that reports its phase the batch follows the device, and this is refused
            unless --stop-following-device says to set phases by hand from now on (audited).

            Example:
              pocarectl batch phase str-1 expansion --reason "day 3"
            """)
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Argument(help: "Phase.") var phase: String
    @Flag(help: "Stop following the phase the device reports; set it by hand from now on.") var stopFollowingDevice = false
    @Option(help: "Why, for the audit trail (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let r = try daemon.batchAction(.batchPhase(BatchPhaseChange(
            device: device, phase: phase, stopFollowingDevice: stopFollowingDevice, reason: reason)))
        if json { return printJSON(r) }
        print("\(device): batch \(text(r.batch)) now in phase \(phase)")
    }
}

struct BatchEnd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "end", abstract: "End the batch running on a device (audited).", discussion: "Example:\n  pocarectl batch end rocker-1")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Option(help: "Why, for the audit trail (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let r = try daemon.batchAction(.batchEnd(ControlAPI.BatchEnd(device: device, reason: reason)))
        if json { return printJSON(r) }
        print("batch on \(device) ended")
        for note in r.notes ?? [] { print("note: \(note)") }
    }
}

struct BatchList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Batches in the store.", discussion: "Example:\n  pocarectl batch list")
    @OptionGroup var daemon: SocketOption
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let list = try daemon.send(.batchList) { if case .batchList(let r) = $0 { r } else { nil } }
        if json { return printJSON(list) }
        var rows = [["batch", "device", "started (UTC)", "ended (UTC)", "spec"]]
        for b in list.batches {
            rows.append([b.batch, b.device, b.started, text(b.ended), b.spec])
        }
        print(alignedTable(rows))
    }
}

struct BatchPublish: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish", abstract: "Commit an ended batch's record again, so the Control Site gets it again.",
        discussion: """
            The record (the content of `batch report --json`) is committed as a new batch_record event
            on the device's event stream and published from the store like any record. Audited.

            Example:
              pocarectl batch publish CART-0042
              pocarectl batch publish CART-0042 --device str-1     (a batch that ran on several devices)
            """)
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Batch id.") var batch: String
    @Option(help: "The device whose record to publish; needed when the batch ran on several devices.") var device: String?
    func run() throws {
        let r = try daemon.send(.batchPublish(batch: batch, device: device)) { if case .batchReport(let r) = $0 { r } else { nil } }
        print("batch \(batch) on \(r.device): record committed for the Control Site")
    }
}

struct BatchReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "The batch IPC record for QP review, as a table, JSON or CSV.",
        discussion: """
            The spec (document, version, fingerprint) and the equipment (profile and its fingerprint,
            serial and firmware where the device reports them); start and end with who and why;
            phases with their times; per phase and parameter the monitored time, the shares of it
            in range, in alert and in action, the unmonitored share, and statistics for
            measurements; every unmonitored interval with its cause; excursions, alarms with
            who acknowledged them and why, shelves; and whether the clock was synchronised.
            --csv writes one table of every section: section,phase,item,field,value.
            A batch that ran on several devices has a record per device: name it with --device.

            Examples:
              pocarectl batch report CART-0042
              pocarectl batch report CART-0042 --device str-1
              pocarectl batch report CART-0042 --csv > CART-0042.csv
            """)
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Batch id.") var batch: String
    @Option(help: "The device whose record to show; needed when the batch ran on several devices.") var device: String?
    @Flag(help: "JSON.") var json = false
    @Flag(help: "CSV: every section in one table (section,phase,item,field,value).") var csv = false
    func run() throws {
        let r = try daemon.send(.batchReport(batch: batch, device: device)) { if case .batchReport(let r) = $0 { r } else { nil } }
        if json { return printJSON(r) }
        if csv { return print(BatchReportCSV.text(r), terminator: "") }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", $0) } ?? "-" }
        func seconds(_ v: Double?) -> String { v.map { String(format: "%.0f s", $0) } ?? "-" }
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
        if let service = r.alarmService { printAlarmService(service) }
    }

    /// Out-of-service intervals and latched alarms, a section of its own.
    private func printAlarmService(_ service: POCareContract.BatchReport.AlarmService) {
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

/// Every section of the batch record in one long table, so a spreadsheet or a validation
/// script reads all of it: `section,phase,item,field,value`.
enum BatchReportCSV {
    static func text(_ r: POCareContract.BatchReport) -> String {
        var lines = ["section,phase,item,field,value"]
        func row(_ section: String, _ phase: String, _ item: String, _ field: String, _ value: String?) {
            guard let value else { return }
            lines.append([section, phase, item, field, value].map(quote).joined(separator: ","))
        }
        func number(_ v: Double?) -> String? { v.map { formatNumber($0) } }
        let id = r.specIdentity
        for (field, value) in [("fingerprint", id.fingerprint), ("document", id.document), ("version", id.version), ("product", id.product),
                               ("process", id.process), ("approved_by", id.approvedBy), ("approval_date", id.approvalDate),
                               ("change_control", id.changeControl)] {
            row("spec", "", "", field, value)
        }
        let e = r.equipment
        for (field, value) in [("device", e.device), ("profile", e.profile), ("profile_fingerprint", e.profileFingerprint), ("vendor", e.vendor),
                               ("model", e.model), ("serial_number", e.serialNumber), ("firmware_version", e.firmwareVersion)] {
            row("equipment", "", "", field, value)
        }
        if let release = r.specRelease {
            row("spec_release", "", "", "state", release.state)
            row("spec_release", "", "", "detail", release.detail)
            row("spec_release", "", "", "release_required", release.releaseRequired ? "true" : "false")
            row("spec_release", "", "", "register_version", release.registerVersion.map(String.init))
            row("spec_release", "", "", "register_hash", release.registerHash)
            row("spec_release", "", "", "retired_during_batch", release.retiredDuringBatch?.retiredAt ?? (release.retiredDuringBatch != nil ? "yes" : nil))
        }
        row("batch", "", r.batch, "start", r.start.time)
        row("batch", "", r.batch, "started_by", r.start.by)
        row("batch", "", r.batch, "start_reason", r.start.reason)
        row("batch", "", r.batch, "end", r.end?.time)
        row("batch", "", r.batch, "ended_by", r.end?.by)
        row("batch", "", r.batch, "end_reason", r.end?.reason)
        row("batch", "", r.batch, "samples", String(r.samples))
        row("batch", "", r.batch, "unmonitored_s", number(r.unmonitoredS))
        row("clock", "", "", "synchronised_throughout", r.clock.synchronisedThroughout.map { $0 ? "true" : "false" } ?? "unknown")
        for c in r.clock.events { row("clock", "", c.time, c.kind, c.detail) }
        for p in r.phaseTimeline {
            row("phase", p.phase, p.from, "to", p.to ?? "")
            row("phase", p.phase, p.from, "by", p.by)
            row("phase", p.phase, p.from, "reason", p.reason)
        }
        for p in r.phases {
            for s in p.parameters {
                for (field, value) in [("unit", s.unit), ("samples", String(s.samples)), ("min", number(s.min)), ("max", number(s.max)),
                                       ("mean", number(s.mean)), ("time_weighted_mean", number(s.timeWeightedMean)),
                                       ("standard_deviation", number(s.standardDeviation)), ("monitored_s", number(s.monitoredS)),
                                       ("unmonitored_s", number(s.unmonitoredS)), ("in_range_pct", number(s.inRangePct)),
                                       ("alert_pct", number(s.alertPct)), ("action_pct", number(s.actionPct)),
                                       ("unmonitored_pct", number(s.unmonitoredPct))] {
                    row("parameter", p.phase, s.parameter, field, value)
                }
            }
        }
        for u in r.unmonitored {
            row("unmonitored", "", u.from, "to", u.to)
            row("unmonitored", "", u.from, "duration_s", number(u.durationS))
            row("unmonitored", "", u.from, "cause", u.cause)
        }
        for x in r.excursions {
            let item = "\(x.alarm)@\(x.start)"
            for (field, value) in [("parameter", x.parameter), ("end", x.end), ("duration_s", number(x.durationS)),
                                   ("worst_value", number(x.worstValue)), ("worst_label", x.worstLabel),
                                   ("worst_level", x.worstLevel), ("side", x.side), ("area_outside", number(x.areaOutside)),
                                   ("open_at_batch_end", x.openAtBatchEnd ? "true" : "false")] {
                row("excursion", x.phase, item, field, value)
            }
        }
        for a in r.alarms {
            let item = "\(a.alarm)@\(a.time)"
            for (field, value) in [("kind", a.kind), ("level", a.level), ("value", number(a.value)), ("limit", number(a.limit)),
                                   ("acknowledged_by", a.acknowledgedBy), ("acknowledged_at", a.acknowledgedAt), ("reason", a.reason),
                                   ("cleared", a.cleared), ("open_at_batch_end", a.openAtBatchEnd ? "true" : "false")] {
                row("alarm", a.phase ?? "", item, field, value)
            }
        }
        for s in r.shelves {
            let item = "\(s.alarm)@\(s.from)"
            for (field, value) in [("by", s.by), ("reason", s.reason), ("until", s.until), ("ended", s.ended), ("end_reason", s.endReason)] {
                row("shelve", "", item, field, value)
            }
        }
        // Out of service and latch resets (the alarm-service section).
        for i in r.alarmService?.outOfService ?? [] {
            let item = "\(i.target)@\(i.from)"
            for (field, value) in [("to", i.to), ("taken_by", i.takenBy), ("reason", i.reason), ("returned_by", i.returnedBy),
                                   ("return_reason", i.returnReason)] {
                row("out_of_service", "", item, field, value)
            }
        }
        for reset in r.alarmService?.latchResets ?? [] {
            let item = "\(reset.alarm)@\(reset.time)"
            row("latch_reset", "", item, "by", reset.user)
            row("latch_reset", "", item, "reason", reset.reason)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quote(_ field: String) -> String {
        field.contains(",") || field.contains("\"") || field.contains("\n") ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }
}

extension SocketOption {
    func batchAction(_ command: ControlCommand) throws -> BatchState {
        try send(command) { if case .batch(let r) = $0 { r } else { nil } }
    }
}
