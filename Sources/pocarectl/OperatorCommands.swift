import ArgumentParser
import ControlAPI
import Foundation
import POCareCore

/// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
enum Paint {
    static let enabled = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static func red(_ s: String) -> String { enabled ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    static func yellow(_ s: String) -> String { enabled ? "\u{1B}[33m\(s)\u{1B}[0m" : s }
    static func bold(_ s: String) -> String { enabled ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
}

/// A cell of a table: `-` for nothing, numbers as the daemon's log shows them.
func text(_ value: String?) -> String { value ?? "-" }
func text(_ value: Double?) -> String { value.map(formatNumber) ?? "-" }
func text(_ value: ParameterValue?) -> String {
    switch value {
    case .number(let n)?: formatNumber(n)
    case .flag(let b)?: b ? "true" : "false"
    case .text(let t)?: t
    case nil: "-"
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The site's devices: endpoint, polling, batch.", discussion: "Example:\n  pocarectl devices")
    @OptionGroup var daemon: SocketOption
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        let list = try daemon.send(.devices) { if case .devices(let r) = $0 { r } else { nil } }
        if json { return printJSON(list) }
        var rows = [["device", "profile", "endpoint", "interval", "connected", "cycles", "missed", "batch", "phase"]]
        for d in list.devices {
            rows.append([d.id, d.profile, d.endpoint, formatNumber(d.pollIntervalS) + " s", d.connected ? "yes" : Paint.red("NO"),
                         "\(d.cycles)", "\(d.missedCycles)", text(d.batch), text(d.phase)])
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
        let values = try daemon.values(of: device)
        if json { return printJSON(values) }
        print(renderValues(values))
    }
}

extension SocketOption {
    func values(of device: String) throws -> DeviceValues {
        try send(.values(device: device)) { if case .values(let r) = $0 { r } else { nil } }
    }
}

/// A device's values as a table, values outside the alert range in yellow, outside the action range in red.
func renderValues(_ values: DeviceValues) -> String {
    var lines = ["\(values.device) at \(text(values.time))  batch \(text(values.batch))  phase \(text(values.phase))"]
    var rows = [["parameter", "value", "unit", "quality", "alert low", "alert high", "action low", "action high"]]
    for v in values.values {
        let limits = v.limits
        var value = v.label ?? text(v.value)
        if case .number(let n)? = v.value, let l = limits {
            let outsideAction = l.actionLow.map { n < $0 } == true || l.actionHigh.map { n > $0 } == true
            let outsideAlert = l.alertLow.map { n < $0 } == true || l.alertHigh.map { n > $0 } == true
            value = outsideAction ? Paint.red(value) : outsideAlert ? Paint.yellow(value) : value
        }
        rows.append([v.parameter, value, v.unit, v.quality == "good" ? v.quality : Paint.red(v.quality),
                     text(limits?.alertLow), text(limits?.alertHigh), text(limits?.actionLow), text(limits?.actionHigh)])
    }
    lines.append(alignedTable(rows))
    return lines.joined(separator: "\n")
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
            if json {
                if let device {
                    printJSON(try daemon.values(of: device))
                } else {
                    printJSON(try daemon.send(.status) { if case .status(let r) = $0 { r } else { nil } })
                }
            } else {
                var screen: String
                if let device {
                    screen = renderValues(try daemon.values(of: device))
                } else {
                    let devices = try daemon.send(.devices) { if case .devices(let r) = $0 { r } else { nil } }.devices
                    screen = try devices.map { renderValues(try daemon.values(of: $0.id)) }.joined(separator: "\n\n")
                    let alarms = try daemon.send(.alarms(AlarmQuery())) { if case .alarms(let r) = $0 { r } else { nil } }.alarms
                    screen += "\n\nalarms: " + (alarms.isEmpty ? "none" : alarms.map { "\($0.alarm) \($0.state)" }.joined(separator: ", "))
                }
                if isatty(1) == 1 { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(screen)
            }
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
        let query = AlarmQuery(history: history, device: device, limit: limit)
        if history {
            let past = try daemon.send(.alarms(query)) { if case .alarmHistory(let r) = $0 { r } else { nil } }
            if json { return printJSON(past) }
            var rows = [["time (UTC)", "alarm", "event", "level", "value", "user", "reason"]]
            for h in past.history {
                rows.append([h.time, h.alarm, h.kind, text(h.level), text(h.value), text(h.user), text(h.reason)])
            }
            return print(alignedTable(rows))
        }
        let list = try daemon.send(.alarms(query)) { if case .alarms(let r) = $0 { r } else { nil } }
        if json { return printJSON(list) }
        if list.alarms.isEmpty { return print("no active or unacknowledged alarms") }
        var rows = [["alarm", "state", "level", "priority", "since", "value", "shelved until"]]
        for a in list.alarms {
            rows.append([a.alarm, a.state.contains("unacknowledged") ? Paint.red(a.state) : Paint.yellow(a.state),
                         a.level, a.priority, text(a.since), text(a.value), text(a.shelvedUntil)])
        }
        print(alignedTable(rows))
    }
}

extension SocketOption {
    func alarmAction(_ command: ControlCommand) throws -> AlarmActionResult {
        try send(command) { if case .alarmAction(let r) = $0 { r } else { nil } }
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
        let result = try daemon.alarmAction(.acknowledge(AlarmAction(alarm: alarm, reason: reason)))
        if json { return printJSON(result) }
        print("acknowledged \(alarm) as \(result.user): now \(result.state)")
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
        let result = try daemon.alarmAction(.shelve(ShelveAction(alarm: alarm, duration: duration, reason: reason)))
        if json { return printJSON(result) }
        print("shelved \(alarm) for \(duration)")
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
        let result = try daemon.alarmAction(.unshelve(AlarmAction(alarm: alarm, reason: reason)))
        if json { return printJSON(result) }
        print("unshelved \(alarm): now \(result.state)")
    }
}
