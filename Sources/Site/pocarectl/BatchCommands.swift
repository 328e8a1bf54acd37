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
        BatchReportTable.write(r, batch: batch)
    }
}

extension SocketOption {
    func batchAction(_ command: ControlCommand) throws -> BatchState {
        try send(command) { if case .batch(let r) = $0 { r } else { nil } }
    }
}
