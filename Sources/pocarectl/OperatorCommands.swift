import ArgumentParser
import ControlAPI
import Foundation

/// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
enum Paint {
    static let enabled = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static func red(_ s: String) -> String { enabled ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    static func yellow(_ s: String) -> String { enabled ? "\u{1B}[33m\(s)\u{1B}[0m" : s }
    static func bold(_ s: String) -> String { enabled ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
}

func text(_ value: Any?) -> String {
    switch value {
    case nil, is NSNull: return "-"
    case let n as NSNumber where String(cString: n.objCType) == "c": return n.boolValue ? "true" : "false"
    case let n as NSNumber:
        let d = n.doubleValue
        return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.4g", d)
    case let s as String: return s
    default: return "\(value!)"
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The site's devices: endpoint, polling, batch.", discussion: "Example:\n  pocarectl devices")
    @OptionGroup var daemon: SocketOption
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        let result = try daemon.send("devices")
        if json { return print(result) }
        var rows = [["device", "profile", "endpoint", "interval", "connected", "cycles", "missed", "batch", "phase"]]
        for d in object(result)["devices"] as? [[String: Any]] ?? [] {
            rows.append([text(d["id"]), text(d["profile"]), text(d["endpoint"]), text(d["poll_interval_s"]) + " s",
                         (d["connected"] as? Bool) == true ? "yes" : Paint.red("NO"), text(d["cycles"]), text(d["missed_cycles"]),
                         text(d["batch"]), text(d["phase"])])
        }
        print(alignedTable(rows))
    }
}

struct Values: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A device's live values with unit, quality and the limits in force.", discussion: "Example:\n  pocarectl values rocker-1")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id.") var device: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        let result = try daemon.send("values", ["device": device])
        if json { return print(result) }
        print(renderValues(object(result)))
    }
}

/// A device's values as a table, values outside the alert range in yellow, outside the action range in red.
func renderValues(_ values: [String: Any]) -> String {
    do {
        var lines = ["\(text(values["device"])) at \(text(values["time"]))  batch \(text(values["batch"]))  phase \(text(values["phase"]))"]
        var rows = [["parameter", "value", "unit", "quality", "alert low", "alert high", "action low", "action high"]]
        for v in values["values"] as? [[String: Any]] ?? [] {
            let limits = v["limits"] as? [String: Any] ?? [:]
            let quality = text(v["quality"])
            var value = (v["label"] as? String) ?? text(v["value"])
            if let n = (v["value"] as? NSNumber)?.doubleValue, !(v["value"] is Bool) {
                let outsideAction = (limits["action_low"] as? NSNumber).map { n < $0.doubleValue } == true
                    || (limits["action_high"] as? NSNumber).map { n > $0.doubleValue } == true
                let outsideAlert = (limits["alert_low"] as? NSNumber).map { n < $0.doubleValue } == true
                    || (limits["alert_high"] as? NSNumber).map { n > $0.doubleValue } == true
                value = outsideAction ? Paint.red(value) : outsideAlert ? Paint.yellow(value) : value
            }
            rows.append([text(v["parameter"]), value, text(v["unit"]), quality == "good" ? quality : Paint.red(quality),
                         text(limits["alert_low"]), text(limits["alert_high"]), text(limits["action_low"]), text(limits["action_high"])])
        }
        lines.append(alignedTable(rows))
        return lines.joined(separator: "\n")
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live, updating view of one device's values (or all devices and alarms) on a terminal.",
        discussion: "Ctrl-C stops it.\n\nExamples:\n  pocarectl watch rocker-1\n  pocarectl watch")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id; without it, every device and the active alarms.") var device: String?
    @Option(help: "Seconds between refreshes.") var every: Double = 1
    @Option(help: "Stop after this many refreshes (0: until Ctrl-C).") var count: Int = 0
    @Flag(help: "Print each refresh as one JSON line (the values of the device, or the status) instead of a screen.") var json = false

    func run() throws {
        var n = 0
        while count == 0 || n < count {
            var screen: String
            if json {
                screen = try device.map { try daemon.send("values", ["device": $0]) } ?? daemon.send("status")
            } else if let device {
                screen = renderValues(object(try daemon.send("values", ["device": device])))
            } else {
                let devices = object(try daemon.send("devices"))["devices"] as? [[String: Any]] ?? []
                screen = devices.compactMap { d in
                    (d["id"] as? String).flatMap { try? daemon.send("values", ["device": $0]) }
                        .map { renderValues(object($0)) }
                }.joined(separator: "\n\n")
                let alarms = object(try daemon.send("alarms"))["alarms"] as? [[String: Any]] ?? []
                screen += "\n\nalarms: " + (alarms.isEmpty ? "none" : alarms.map { "\(text($0["alarm"])) \(text($0["state"]))" }.joined(separator: ", "))
            }
            if isatty(1) == 1 && !json { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            print(screen)
            n += 1
            if count == 0 || n < count { Thread.sleep(forTimeInterval: every) }
        }
    }
}

struct Alarms: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Alarms that are active or unacknowledged; --history for past transitions.",
        discussion: "Examples:\n  pocarectl alarms\n  pocarectl alarms --history --device rocker-1 --limit 50")
    @OptionGroup var daemon: SocketOption
    @Flag(help: "Past alarm events from the store.") var history = false
    @Option(help: "With --history: only this device.") var device: String?
    @Option(help: "With --history: at most this many, the latest.") var limit: Int = 200
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        var arguments = ["history": history ? "true" : "false", "limit": String(limit)]
        if let device { arguments["device"] = device }
        let result = try daemon.send("alarms", arguments)
        if json { return print(result) }
        if history {
            var rows = [["time (UTC)", "alarm", "event", "level", "value", "user", "reason"]]
            for h in object(result)["history"] as? [[String: Any]] ?? [] {
                let e = h["event"] as? [String: Any] ?? [:]
                rows.append([text(h["time"]), text(h["alarm"]), text(h["kind"]), text(e["level"]), text(e["value"]), text(e["user"]), text(e["reason"])])
            }
            return print(alignedTable(rows))
        }
        let alarms = object(result)["alarms"] as? [[String: Any]] ?? []
        if alarms.isEmpty { return print("no active or unacknowledged alarms") }
        var rows = [["alarm", "state", "level", "priority", "since", "value", "shelved until"]]
        for a in alarms {
            let state = text(a["state"])
            rows.append([text(a["alarm"]), state.contains("unacknowledged") ? Paint.red(state) : Paint.yellow(state),
                         text(a["level"]), text(a["priority"]), text(a["since"]), text(a["value"]), text(a["shelved_until"])])
        }
        print(alignedTable(rows))
    }
}

/// ack, shelve, unshelve: the reason is required and recorded with your Unix user.
struct Ack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Acknowledge an alarm (audited with your Unix user and the reason).",
        discussion: "Example:\n  pocarectl ack rocker-1/temperature/limit --reason \"heater checked, probe re-seated\"")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Alarm id: device/parameter/kind or device/communication.") var alarm: String
    @Option(help: "Why (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.send("ack", ["alarm": alarm, "reason": reason])
        print(json ? result : "acknowledged \(alarm) as \(text(object(result)["user"])): now \(text(object(result)["state"]))")
    }
}

struct Shelve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shelve an alarm for a while (1s to 24h), audited.",
        discussion: "Example:\n  pocarectl shelve str-1/dissolved_oxygen/limit --for 30m --reason \"probe calibration\"")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Alarm id.") var alarm: String
    @Option(name: .customLong("for"), help: "How long, e.g. 30m.") var duration: String
    @Option(help: "Why (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.send("shelve", ["alarm": alarm, "for": duration, "reason": reason])
        print(json ? result : "shelved \(alarm) for \(duration)")
    }
}

struct Unshelve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Return a shelved alarm to service, audited.", discussion: "Example:\n  pocarectl unshelve str-1/dissolved_oxygen/limit --reason \"calibration done\"")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Alarm id.") var alarm: String
    @Option(help: "Why (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.send("unshelve", ["alarm": alarm, "reason": reason])
        print(json ? result : "unshelved \(alarm): now \(text(object(result)["state"]))")
    }
}
