import ArgumentParser
import ControlAPI
import Foundation

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run batches: start, change phase, end, list, report.",
        subcommands: [BatchStart.self, BatchPhase.self, BatchEnd.self, BatchList.self, BatchReport.self])
}

struct BatchStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a batch on a device, held to an approved spec (audited).",
        discussion: "Example:\n  pocarectl batch start rocker-1 --batch CART-0042 --spec /etc/pocare/specs/cart.yaml --phase activation")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Option(help: "Batch id.") var batch: String
    @Option(help: "Spec file in the site's spec folder (spec_dir), or the fingerprint (or its first 12 digits) of a spec the daemon knows.")
    var spec: String
    @Option(help: "Starting phase (default: the spec's first).") var phase: String?
    @Flag(help: "Let the phase follow the device's phase parameter.") var followDevicePhase = false
    @Option(help: "Why, for the audit trail (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        // A file named relative to here means nothing to the daemon: send where it is.
        let reference = FileManager.default.fileExists(atPath: spec) ? URL(fileURLWithPath: spec).standardizedFileURL.path : spec
        let r = try daemon.batchAction(.batchStart(ControlAPI.BatchStart(
            device: device, batch: batch, spec: reference, phase: phase, followDevicePhase: followDevicePhase, reason: reason)))
        if json { return printJSON(r) }
        print("batch \(text(r.batch)) started on \(device) in phase \(text(r.phase)), spec \(text(r.spec))")
    }
}

struct BatchPhase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phase", abstract: "Move a device's batch to another phase of its spec (audited).",
        discussion: "Example:\n  pocarectl batch phase rocker-1 expansion")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Argument(help: "Phase.") var phase: String
    @Option(help: "Why, for the audit trail (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let r = try daemon.batchAction(.batchPhase(BatchPhaseChange(device: device, phase: phase, reason: reason)))
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

struct BatchReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "The batch IPC record for QP review, as a table, JSON or CSV.",
        discussion: """
            Per phase and parameter: minimum, maximum, mean and time in range; every excursion with
            its duration and worst value; every alarm with who acknowledged it and why; the spec
            fingerprint; gaps in the data.

            Examples:
              pocarectl batch report CART-0042
              pocarectl batch report CART-0042 --csv > CART-0042.csv
            """)
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Batch id.") var batch: String
    @Flag(help: "JSON.") var json = false
    @Flag(help: "CSV: one row per phase and parameter.") var csv = false
    func run() throws {
        let r = try daemon.send(.batchReport(batch: batch)) { if case .batchReport(let r) = $0 { r } else { nil } }
        if json { return printJSON(r) }
        if csv {
            print("batch,device,spec,phase,parameter,unit,samples,min,max,mean,in_range_pct")
            for p in r.phases {
                for row in p.parameters {
                    print([batch, r.device, r.spec, p.phase, row.parameter, row.unit, "\(row.samples)", text(row.min), text(row.max),
                           text(row.mean), text(row.inRangePct)]
                        .map { $0.contains(",") ? "\"\($0)\"" : $0 }.joined(separator: ","))
                }
            }
            return
        }
        print(Paint.bold("Batch \(batch) on \(r.device)"))
        print("spec      \(r.spec) (\(text(r.specDocument)))")
        print("period    \(r.started) to \(text(r.ended))")
        print("samples   \(r.samples), \(r.badReadings) readings not good")
        for p in r.phases {
            print("\nphase \(p.phase)")
            var rows = [["parameter", "unit", "samples", "min", "max", "mean", "in range"]]
            for row in p.parameters {
                rows.append([row.parameter, row.unit, "\(row.samples)", text(row.min), text(row.max), text(row.mean),
                             row.inRangePct.map { String(format: "%.1f %%", $0) } ?? "-"])
            }
            print(alignedTable(rows))
        }
        print("\nexcursions: \(r.excursions.isEmpty ? "none" : "")")
        if !r.excursions.isEmpty {
            var rows = [["alarm", "phase", "start", "duration", "worst", "level", "area outside"]]
            for e in r.excursions {
                rows.append([e.alarm, e.phase, e.start, text(e.durationS) + " s", text(e.worstValue), e.worstLevel, text(e.areaOutside)])
            }
            print(alignedTable(rows))
        }
        print("\nalarms: \(r.alarms.isEmpty ? "none" : "")")
        if !r.alarms.isEmpty {
            var rows = [["alarm", "raised (UTC)", "level", "value", "acknowledged by", "at", "reason"]]
            for a in r.alarms {
                rows.append([a.alarm, a.time, text(a.level), text(a.value), text(a.acknowledgedBy), text(a.acknowledgedAt), text(a.reason)])
            }
            print(alignedTable(rows))
        }
        print("\ngaps in the data: \(r.gaps.isEmpty ? "none" : r.gaps.map { "\($0.from) to \($0.to)" }.joined(separator: "; "))")
        if let service = r.alarmService { printAlarmService(service) }
    }

    /// Out-of-service intervals and latched alarms, a section of its own.
    private func printAlarmService(_ service: ControlAPI.BatchReport.AlarmService) {
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

extension SocketOption {
    func batchAction(_ command: ControlCommand) throws -> BatchState {
        try send(command) { if case .batch(let r) = $0 { r } else { nil } }
    }
}
