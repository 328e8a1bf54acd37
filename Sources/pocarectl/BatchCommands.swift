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
    @Option(help: "Spec file, or the fingerprint (or its first 12 digits) of a spec the daemon knows.") var spec: String
    @Option(help: "Starting phase (default: the spec's first).") var phase: String?
    @Flag(help: "Let the phase follow the device's phase parameter.") var followDevicePhase = false
    @Option(help: "Why, for the audit trail.") var reason: String?
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        var arguments = ["device": device, "batch": batch, "spec": spec,
                         "follow_device_phase": followDevicePhase ? "true" : "false"]
        if let phase { arguments["phase"] = phase }
        if let reason { arguments["reason"] = reason }
        let result = try daemon.send("batch.start", arguments)
        let r = object(result)
        print(json ? result : "batch \(text(r["batch"])) started on \(device) in phase \(text(r["phase"])), spec \(text(r["spec"]))")
    }
}

struct BatchPhase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phase", abstract: "Move a device's batch to another phase of its spec (audited).",
        discussion: "Example:\n  pocarectl batch phase rocker-1 expansion")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Argument(help: "Phase.") var phase: String
    @Option(help: "Why, for the audit trail.") var reason: String?
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        var arguments = ["device": device, "phase": phase]
        if let reason { arguments["reason"] = reason }
        let result = try daemon.send("batch.phase", arguments)
        print(json ? result : "\(device): batch \(text(object(result)["batch"])) now in phase \(phase)")
    }
}

struct BatchEnd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "end", abstract: "End the batch running on a device (audited).", discussion: "Example:\n  pocarectl batch end rocker-1")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Option(help: "Why, for the audit trail.") var reason: String?
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        var arguments = ["device": device]
        if let reason { arguments["reason"] = reason }
        let result = try daemon.send("batch.end", arguments)
        print(json ? result : "batch on \(device) ended")
    }
}

struct BatchList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Batches in the store.", discussion: "Example:\n  pocarectl batch list")
    @OptionGroup var daemon: SocketOption
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.send("batch.list")
        if json { return print(result) }
        var rows = [["batch", "device", "started (UTC)", "ended (UTC)", "spec"]]
        for b in object(result)["batches"] as? [[String: Any]] ?? [] {
            rows.append([text(b["batch"]), text(b["device"]), text(b["started"]), text(b["ended"]), text(b["spec"])])
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
        let result = try daemon.send("batch.report", ["batch": batch])
        if json { return print(result) }
        let r = object(result)
        let phases = r["phases"] as? [[String: Any]] ?? []
        if csv {
            print("batch,device,spec,phase,parameter,unit,samples,min,max,mean,in_range_pct")
            for p in phases {
                for row in p["parameters"] as? [[String: Any]] ?? [] {
                    print([batch, text(r["device"]), text(r["spec"]), text(p["phase"]), text(row["parameter"]), text(row["unit"]),
                           text(row["samples"]), text(row["min"]), text(row["max"]), text(row["mean"]), text(row["in_range_pct"])]
                        .map { $0.contains(",") ? "\"\($0)\"" : $0 }.joined(separator: ","))
                }
            }
            return
        }
        print(Paint.bold("Batch \(batch) on \(text(r["device"]))"))
        print("spec      \(text(r["spec"])) (\(text(r["spec_document"])))")
        print("period    \(text(r["started"])) to \(text(r["ended"]))")
        print("samples   \(text(r["samples"])), \(text(r["bad_readings"])) readings not good")
        for p in phases {
            print("\nphase \(text(p["phase"]))")
            var rows = [["parameter", "unit", "samples", "min", "max", "mean", "in range"]]
            for row in p["parameters"] as? [[String: Any]] ?? [] {
                rows.append([text(row["parameter"]), text(row["unit"]), text(row["samples"]), text(row["min"]), text(row["max"]),
                             text(row["mean"]), row["in_range_pct"].map { String(format: "%.1f %%", ($0 as? NSNumber)?.doubleValue ?? 0) } ?? "-"])
            }
            print(alignedTable(rows))
        }
        let excursions = r["excursions"] as? [[String: Any]] ?? []
        print("\nexcursions: \(excursions.isEmpty ? "none" : "")")
        if !excursions.isEmpty {
            var rows = [["alarm", "phase", "start", "duration", "worst", "level", "area outside"]]
            for e in excursions {
                rows.append([text(e["alarm"]), text(e["phase"]), text(e["start"]), text(e["duration_s"]) + " s", text(e["worst_value"]),
                             text(e["worst_level"]), text(e["area_outside"])])
            }
            print(alignedTable(rows))
        }
        let alarms = r["alarms"] as? [[String: Any]] ?? []
        print("\nalarms: \(alarms.isEmpty ? "none" : "")")
        if !alarms.isEmpty {
            var rows = [["alarm", "raised (UTC)", "level", "value", "acknowledged by", "at", "reason"]]
            for a in alarms {
                rows.append([text(a["alarm"]), text(a["time"]), text(a["level"]), text(a["value"]), text(a["acknowledged_by"]),
                             text(a["acknowledged_at"]), text(a["reason"])])
            }
            print(alignedTable(rows))
        }
        let gaps = r["gaps"] as? [[String: Any]] ?? []
        print("\ngaps in the data: \(gaps.isEmpty ? "none" : gaps.map { "\(text($0["from"])) to \(text($0["to"]))" }.joined(separator: "; "))")
    }
}
