import ArgumentParser
import ControlAPI
import POCareContract
import Foundation
import POCareConfig
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
        } else if let l = limits, let when = l.alarmWhen, case .flag(let b)? = v.value, b == when {
            value = Paint.yellow(value)
        } else if let l = limits, let labels = l.alarmLabels, let label = v.label, labels.contains(label) {
            value = Paint.yellow(value)
        }
        rows.append([v.parameter, value, v.unit, v.quality == "good" ? v.quality : Paint.red(v.quality),
                     text(limits?.alertLow), text(limits?.alertHigh), text(limits?.actionLow), text(limits?.actionHigh)])
    }
    lines.append(alignedTable(rows))
    return lines.joined(separator: "\n")
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live screen an operator can leave open: values with trends, standing and pending alarms, a legend.",
        discussion: """
            With a device: its values with a trend over the last --trend (20 points) and the alert and action
            bands, its standing alarms (state, priority, since, acknowledged by), the alarms still
            waiting out their on-delay, and what is out of service. Without: one line per device
            with its worst state, then the site's standing, pending and out-of-service alarms. The
            screen fits the terminal (--width/--height otherwise). Yellow is alert, red is action
            or unacknowledged; NO_COLOR or --no-color turns colour off. Ctrl-C stops it.

            Examples:
              pocarectl watch rocker-1
              pocarectl watch
              pocarectl --no-color watch --count 1 --height 24
            """)
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Device id; without it, every device and the site's alarms.") var device: String?
    @Option(help: "Seconds between refreshes.") var every: Double = 1
    @Option(help: "How far back a device's trends reach, 20 points over it (e.g. 2m).") var trend = "2m"
    @Option(help: "Stop after this many refreshes (0: until Ctrl-C).") var count: Int = 0
    @Option(help: "Screen width in columns (default: the terminal's, or 100).") var width: Int?
    @Option(help: "Screen height in lines (default: the terminal's, or 24).") var height: Int?
    @Flag(help: "Print each refresh as one JSON line (the values of the device, or the status) instead of a screen.") var json = false

    func run() throws {
        var n = 0
        var trends: [String: [Double?]] = [:]
        guard let window = parseDuration(trend), window > .zero else {
            throw ValidationError("--trend: '\(trend)' is not a duration such as 30s or 5m")
        }
        // One point per refresh, or fewer when the window is longer than 20 refreshes.
        let pointEvery = max(every, Double(window.components.seconds) / Double(WatchScreen.trendLength))
        var lastPoint: ContinuousClock.Instant?
        let size = terminalSize()
        let screen = WatchScreen(width: width ?? size?.width ?? 100, height: height ?? size?.height ?? 24, colour: Paint.enabled)
        while count == 0 || n < count {
            if json {
                if let device {
                    printJSON(try daemon.values(of: device))
                } else {
                    printJSON(try daemon.send(.status) { if case .status(let r) = $0 { r } else { nil } })
                }
            } else {
                let alarms = try daemon.send(.alarms(AlarmQuery())) { if case .alarms(let r) = $0 { r } else { nil } }
                let lines: [String]
                if let device {
                    let values = try daemon.values(of: device)
                    if lastPoint.map({ ContinuousClock.now - $0 >= .seconds(pointEvery) * 0.95 }) ?? true {
                        lastPoint = .now
                        for row in values.values {
                            var points = trends[row.parameter] ?? []
                            points.append(row.quality == "good" ? number(row.value) : nil)
                            trends[row.parameter] = Array(points.suffix(WatchScreen.trendLength))
                        }
                    }
                    lines = screen.device(
                        values, alarms: alarms, trends: trends, trendSeconds: Int((pointEvery * Double(WatchScreen.trendLength)).rounded()))
                } else {
                    let status = try daemon.send(.status) { if case .status(let r) = $0 { r } else { nil } }
                    lines = screen.site(status, alarms: alarms, time: String(UTCTime.format(Date()).prefix(19)) + "Z")
                }
                if isatty(1) == 1 { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(lines.joined(separator: "\n"))
            }
            n += 1
            if count == 0 || n < count { Thread.sleep(forTimeInterval: every) }
        }
    }

    private func number(_ value: ParameterValue?) -> Double? {
        switch value {
        case .number(let v)?: v
        case .flag(let b)?: b ? 1 : 0
        default: nil
        }
    }

    private func terminalSize() -> (width: Int, height: Int)? {
        var size = winsize()
        guard isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (Int(size.ws_col), Int(size.ws_row))
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
        if list.alarms.isEmpty && (list.outOfService ?? []).isEmpty {
            return print("no active or unacknowledged alarms")
        }
        if !list.alarms.isEmpty {
            var rows = [["alarm", "state", "level", "priority", "since", "value", "acknowledged by", "shelved until"]]
            for a in list.alarms {
                let colour = a.state.contains("unacknowledged") || a.level == "action" ? Paint.red : Paint.yellow
                rows.append([a.alarm, colour(a.state), a.level, a.priority, text(a.since), a.label ?? text(a.value), text(a.acknowledgedBy),
                             text(a.shelvedUntil)])
            }
            print(alignedTable(rows))
        }
        if let service = list.outOfService, !service.isEmpty {
            var rows = [["out of service", "since", "by", "reason"]]
            for item in service { rows.append([item.target, item.since, item.user, item.reason]) }
            print((list.alarms.isEmpty ? "" : "\n") + alignedTable(rows))
        }
        if let pending = list.pending, !pending.isEmpty {
            var rows = [["pending alarm", "to level", "priority", "waiting since", "on-delay left"]]
            for p in pending { rows.append([p.alarm, p.level, p.priority, p.since, "\(formatNumber(p.remainingS.rounded(.up))) s"]) }
            print("\n" + alignedTable(rows))
        }
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
        if let note = result.note { print("note: \(note)") }
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

struct Reset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reset a latched alarm whose condition has returned (audited with your Unix user and the reason).",
        discussion: "Example:\n  pocarectl reset rocker-1/bag_present/discrete --reason \"bag re-seated, integrity checked\"")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Alarm id.") var alarm: String
    @Option(help: "Why (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.alarmAction(.reset(AlarmAction(alarm: alarm, reason: reason)))
        if json { return printJSON(result) }
        print("reset \(alarm) as \(result.user): now \(result.state)")
    }
}

struct OutOfService: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "out-of-service",
        abstract: "Take an alarm, or every alarm of a device, out of service for maintenance (audited).",
        discussion: """
            An alarm out of service is still evaluated and recorded, but not annunciated, until it
            is returned with in-service; unlike shelving it has no time limit and is listed by
            status, alarms and the batch report until then.

            Examples:
              pocarectl out-of-service str-1/dissolved_oxygen/limit --reason "WO-1234: DO probe replacement"
              pocarectl out-of-service str-1 --reason "WO-1240: preventive maintenance"
            """)
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Alarm id, or a device id for all its alarms.") var target: String
    @Option(help: "Why (required), e.g. the work order.") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.alarmAction(.outOfService(ServiceAction(target: target, reason: reason)))
        if json { return printJSON(result) }
        print("\(target) out of service as \(result.user)")
    }
}

struct InService: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "in-service",
        abstract: "Return an alarm or a device to service (audited); a condition that stands is annunciated again.",
        discussion: "Example:\n  pocarectl in-service str-1/dissolved_oxygen/limit --reason \"WO-1234 closed, probe calibrated\"")
    @OptionGroup var daemon: SocketOption
    @Argument(help: "Alarm id or device id.") var target: String
    @Option(help: "Why (required).") var reason: String
    @Flag(help: "Print the daemon's answer as JSON.") var json = false
    func run() throws {
        let result = try daemon.alarmAction(.inService(ServiceAction(target: target, reason: reason)))
        if json { return printJSON(result) }
        print("\(target) in service as \(result.user): now \(result.state)")
    }
}
