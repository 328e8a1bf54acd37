import Foundation

/// The screens of `pocarectl watch`, rendered from the daemon's answers into lines that fit a
/// terminal of a given size. Pure: the caller fetches the answers, keeps the trend history and
/// writes the lines, so the same input always gives the same screen.
///
/// Colours follow the alarm levels an operator knows: yellow for alert, red for action (and
/// for unacknowledged or lost communication); nothing else is coloured. Columns are padded by
/// the width a person sees, so escape codes never shift them.
public struct WatchScreen: Sendable {
    public var width: Int
    public var height: Int
    public var colour: Bool

    public init(width: Int = 80, height: Int = 24, colour: Bool = false) {
        self.width = max(40, width)
        self.height = max(10, height)
        self.colour = colour
    }

    /// How many samples a trend keeps, one per refresh.
    public static let trendLength = 20

    /// Short enough for an 80-column terminal.
    public static let legend = "yellow alert, red action/unack; ! unack, L latched, S shelved, O out of service"

    // MARK: One device

    /// One device: its values with a trend and the alert band, then its standing alarms,
    /// its pending alarms with the on-delay left, what is out of service, and the legend.
    public func device(_ values: DeviceValues, alarms: AlarmList, trends: [String: [Double?]], trendSeconds: Int) -> [String] {
        let ownAlarms = alarms.alarms.filter { deviceOf($0.alarm) == values.device }
        let ownPending = (alarms.pending ?? []).filter { deviceOf($0.alarm) == values.device }
        let ownService = (alarms.outOfService ?? []).filter { deviceOf($0.target) == values.device }
        var header = "\(values.device)  batch \(values.batch ?? "-")  phase \(values.phase ?? "-")  at \(values.time ?? "-")"
        if let spec = values.spec { header += "  spec \(spec.dropFirst("sha256:".count).prefix(12))" }

        let span = trendSeconds >= 60 && trendSeconds % 60 == 0 ? "\(trendSeconds / 60)m" : "\(trendSeconds)s"
        var rows = [["parameter", "value", "unit", "trend \(span)", "alert band", "action band"]]
        // Parameters the spec checks first: they are what the operator watches.
        let ordered = values.values.filter { $0.limits != nil } + values.values.filter { $0.limits == nil }
        for row in ordered {
            let rowLevel = row.limits.map { self.level(of: row, $0) } ?? 0
            var value = row.label ?? text(row.value)
            if row.quality != "good" { value = row.quality }
            rows.append([
                row.parameter, paint(value, level: row.quality != "good" ? 2 : rowLevel), row.unit,
                sparkline(trends[row.parameter] ?? [], limits: row.limits), band(row.limits, alert: true), band(row.limits, alert: false),
            ])
        }
        let alarmSection = standing(ownAlarms, showDevice: false)
        let pendingSection = pending(ownPending)
        let serviceSection = outOfService(ownService)
        // What must always show: header, alarm sections, legend. Parameters take what is left.
        let fixed = 1 + 1 + alarmSection.count + pendingSection.count + serviceSection.count + 1
        let room = max(2, height - fixed)
        var table = table(rows)
        if table.count > room {
            let hidden = table.count - (room - 1)
            table = Array(table.prefix(room - 1)) + ["... \(hidden) more parameters (pocarectl values \(values.device))"]
        }
        return fit([header, ""] + table + alarmSection + pendingSection + serviceSection + [Self.legend])
    }

    // MARK: The whole site

    /// Every device on one line with its worst state, then the standing alarms, the pending
    /// ones and what is out of service, cut to the screen's height.
    public func site(_ status: StatusReport, alarms: AlarmList, time: String) -> [String] {
        var lines = [
            "site \(status.site)  \(status.devices.count) devices  \(status.alarms.active) active, \(status.alarms.unacknowledged) unacknowledged  \(time)"
        ]
        var rows = [["device", "worst", "alarms", "batch", "phase", "link"]]
        for device in status.devices {
            let own = alarms.alarms.filter { deviceOf($0.alarm) == device.id }
            let (worst, level) = worstState(own, device: device)
            rows.append([
                device.id, paint(worst, level: level), "\(device.activeAlarms)", device.batch ?? "-", device.phase ?? "-",
                device.communication == "lost"
                    ? paint("LOST \(device.missedPolls ?? 0) polls", level: 2) : device.connected ? "ok" : paint("NO COMM", level: 2),
            ])
        }
        let deviceLines = table(rows)
        let pendingSection = pending(alarms.pending ?? [])
        let serviceSection = outOfService(alarms.outOfService ?? [])
        // Devices first (one line each), the legend last; alarms fill what is left, then pending, then service.
        var budget = height - lines.count - deviceLines.count - 1 - 1
        var alarmSection = standing(alarms.alarms, showDevice: true)
        alarmSection = cut(alarmSection, to: max(2, budget - min(pendingSection.count, 3) - min(serviceSection.count, 3)))
        budget -= alarmSection.count
        let pendingShown = cut(pendingSection, to: max(0, budget - min(serviceSection.count, 3)))
        budget -= pendingShown.count
        let serviceShown = cut(serviceSection, to: max(0, budget))
        lines += [""] + deviceLines + alarmSection + pendingShown + serviceShown + [Self.legend]
        return fit(lines)
    }

    // MARK: Sections

    private func standing(_ alarms: [AlarmList.Alarm], showDevice: Bool) -> [String] {
        guard !alarms.isEmpty else { return ["standing alarms: none"] }
        var rows = [["", "alarm", "state", "priority", "since", "value", "ack by"]]
        let sorted = alarms.sorted { (rank($0), $0.alarm) > (rank($1), $1.alarm) }
        for a in sorted {
            let level = a.level == "action" ? 2 : a.level == "alert" ? 1 : 0
            let unacknowledged = isUnacknowledged(a) && a.state != "out_of_service" && a.state != "shelved"
            rows.append([
                marks(a), paint(a.alarm, level: unacknowledged ? 2 : level), paint(Self.shortState(a.state), level: unacknowledged ? 2 : level),
                a.priority, clock(a.since), a.label ?? text(a.value), a.acknowledgedBy ?? a.outOfService.map { "oos by \($0.user)" } ?? "-",
            ])
        }
        return ["standing alarms (\(alarms.count))"] + table(rows)
    }

    /// The state in a word or two, so the panel fits 80 columns; `alarms` shows the full names.
    static func shortState(_ state: String) -> String {
        switch state {
        case "active_unacknowledged": "unack"
        case "active_acknowledged": "ack"
        case "returned_unacknowledged": "returned unack"
        case "suppressed_by_design": "suppressed"
        case "out_of_service": "out of service"
        default: state
        }
    }

    private func pending(_ pending: [AlarmList.Pending]) -> [String] {
        guard !pending.isEmpty else { return [] }
        var rows = [["", "alarm", "to level", "priority", "waiting since", "on-delay left"]]
        for p in pending {
            rows.append(["", paint(p.alarm, level: p.level == "action" ? 2 : 1), p.level, p.priority, clock(p.since), "\(Int(p.remainingS.rounded(.up))) s"])
        }
        return ["pending alarms (\(pending.count))"] + table(rows)
    }

    private func outOfService(_ items: [OutOfServiceItem]) -> [String] {
        guard !items.isEmpty else { return [] }
        var rows = [["", "out of service", "since", "by", "reason"]]
        for item in items { rows.append(["O", item.target, clock(item.since), item.user, item.reason]) }
        return ["out of service (\(items.count))"] + table(rows)
    }

    private func marks(_ a: AlarmList.Alarm) -> String {
        var m = ""
        if isUnacknowledged(a) { m += "!" }
        if a.latched == true || a.state == "latched" { m += "L" }
        if a.state == "shelved" { m += "S" }
        if a.state == "out_of_service" { m += "O" }
        return m
    }

    private func isUnacknowledged(_ a: AlarmList.Alarm) -> Bool {
        a.unacknowledged ?? a.state.contains("unacknowledged")
    }

    private func rank(_ a: AlarmList.Alarm) -> Int {
        let level = a.level == "action" ? 20 : a.level == "alert" ? 10 : a.latched == true ? 5 : 0
        let priority = ["low": 0, "medium": 1, "high": 2, "critical": 3][a.priority] ?? 0
        let annunciated = a.state == "out_of_service" || a.state == "shelved" ? -30 : 0
        return level + priority + annunciated + (isUnacknowledged(a) ? 4 : 0)
    }

    /// The most pressing thing about a device, as a word and a colour level.
    func worstState(_ alarms: [AlarmList.Alarm], device: StatusReport.Device) -> (String, Int) {
        if device.outOfService != nil { return ("out of service", 0) }
        let annunciated = alarms.filter { $0.state != "out_of_service" && $0.state != "shelved" }
        if let worst = annunciated.max(by: { rank($0) < rank($1) }) {
            let unack = isUnacknowledged(worst)
            switch worst.level {
            case "action": return (unack ? "ACTION unack" : "action", 2)
            case "alert": return (unack ? "ALERT unack" : "alert", unack ? 2 : 1)
            default:
                if worst.state == "latched" { return (unack ? "LATCHED unack" : "latched", unack ? 2 : 1) }
                return ("returned unack", 0)
            }
        }
        if !device.connected { return ("no communication", 2) }
        if alarms.contains(where: { $0.state == "shelved" }) { return ("normal (shelved)", 0) }
        return ("normal", 0)
    }

    // MARK: Pieces

    /// A sparkline of the last values scaled to cover them and the alert band, each point
    /// coloured by where it lay; a blank is a failed read.
    func sparkline(_ points: [Double?], limits: Limits?) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        let recent = points.suffix(Self.trendLength)
        let numbers = recent.compactMap { $0 }
        guard !numbers.isEmpty else { return String(repeating: " ", count: Self.trendLength) }
        let bounds = numbers + [limits?.alertLow, limits?.alertHigh].compactMap { $0 }
        let low = bounds.min()!, high = bounds.max()!
        var line = String(repeating: " ", count: Self.trendLength - recent.count)
        for point in recent {
            guard let v = point else {
                line += " "
                continue
            }
            let index = high > low ? Int(((v - low) / (high - low) * Double(bars.count - 1)).rounded()) : bars.count / 2
            let bar = String(bars[min(bars.count - 1, max(0, index))])
            line += limits.map { paint(bar, level: level(of: v, $0)) } ?? bar
        }
        return line
    }

    private func band(_ limits: Limits?, alert: Bool) -> String {
        guard let l = limits else { return "" }
        if alert, let when = l.alarmWhen { return "alarm when \(when)" }
        if alert, let labels = l.alarmLabels { return "alarm on " + labels.joined(separator: "|") }
        let (low, high) = alert ? (l.alertLow, l.alertHigh) : (l.actionLow, l.actionHigh)
        if low == nil && high == nil { return "-" }
        return "\(low.map(number) ?? "")..\(high.map(number) ?? "")"
    }

    private func level(of row: DeviceValues.Row, _ l: Limits) -> Int {
        if let when = l.alarmWhen, case .flag(let b)? = row.value { return b == when ? 1 : 0 }
        if let labels = l.alarmLabels, let label = row.label { return labels.contains(label) ? 1 : 0 }
        if case .number(let n)? = row.value { return level(of: n, l) }
        return 0
    }

    private func level(of v: Double, _ l: Limits) -> Int {
        if l.actionLow.map({ v < $0 }) == true || l.actionHigh.map({ v > $0 }) == true { return 2 }
        if l.alertLow.map({ v < $0 }) == true || l.alertHigh.map({ v > $0 }) == true { return 1 }
        return 0
    }

    func paint(_ s: String, level: Int) -> String {
        guard colour, level > 0 else { return s }
        return "\u{1B}[\(level >= 2 ? 31 : 33)m\(s)\u{1B}[0m"
    }

    private func cut(_ section: [String], to rows: Int) -> [String] {
        guard section.count > rows else { return section }
        guard rows > 1 else { return rows == 1 ? [section[0] + " (more: pocarectl alarms)"] : [] }
        return Array(section.prefix(rows - 1)) + ["... \(section.count - rows + 1) more (pocarectl alarms)"]
    }

    /// No line wider than the screen and no more lines than it has.
    private func fit(_ lines: [String]) -> [String] {
        lines.prefix(height).map { truncate($0, to: width) }
    }

    private func deviceOf(_ alarm: String) -> String { String(alarm.prefix { $0 != "/" }) }

    private func clock(_ time: String?) -> String {
        // `2026-11-25T07:47:34.794Z` -> `07:47:34`: the date is the same on a screen watched live.
        guard let time, let t = time.firstIndex(of: "T") else { return time ?? "-" }
        return String(time[time.index(after: t)...].prefix(8))
    }

    private func text(_ value: ParameterValue?) -> String {
        switch value {
        case .number(let n)?: number(n)
        case .flag(let b)?: b ? "true" : "false"
        case .text(let t)?: t
        case nil: "-"
        }
    }

    private func text(_ value: Double?) -> String { value.map(number) ?? "-" }

    private func number(_ v: Double) -> String {
        if v.rounded() == v, abs(v) < 1e15 { return String(Int64(v)) }
        var s = String(format: "%.4f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    func table(_ rows: [[String]]) -> [String] { Self.alignedRows(rows) }

    // MARK: Width a person sees

    /// Columns padded to the widest cell as seen on screen, ignoring colour escape codes.
    public static func alignedRows(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? visibleWidth($0[c]) : 0 }.max() ?? 0 }
        return rows.map { row in
            var line = ""
            for (c, cell) in row.enumerated() {
                if c > 0 { line += "  " }
                line += cell + String(repeating: " ", count: max(0, widths[c] - visibleWidth(cell)))
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    /// Characters on screen: escape sequences (`ESC [ ... m`) take none.
    public static func visibleWidth(_ s: String) -> Int {
        var count = 0
        var inEscape = false
        for ch in s.unicodeScalars {
            if inEscape {
                if ch == "m" { inEscape = false }
            } else if ch == "\u{1B}" {
                inEscape = true
            } else {
                count += 1
            }
        }
        return count
    }

    /// Cuts a line to a visible width, keeping escape sequences whole and closing a colour it cut.
    func truncate(_ s: String, to limit: Int) -> String {
        guard Self.visibleWidth(s) > limit else { return s }
        var out = ""
        var count = 0
        var inEscape = false
        for ch in s.unicodeScalars {
            if inEscape {
                out.unicodeScalars.append(ch)
                if ch == "m" { inEscape = false }
            } else if ch == "\u{1B}" {
                inEscape = true
                out.unicodeScalars.append(ch)
            } else {
                if count == limit - 1 {
                    out += "…"
                    break
                }
                out.unicodeScalars.append(ch)
                count += 1
            }
        }
        return colour ? out + "\u{1B}[0m" : out
    }
}

extension WatchScreen {
    /// The sparkline alone, for tests of its scaling.
    public func sparklineForTest(_ points: [Double?], limits: Limits?) -> String { sparkline(points, limits: limits) }
}
