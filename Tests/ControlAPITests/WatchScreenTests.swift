import ControlAPI
import POCareContract
import Foundation
import Testing

/// A site of eight devices, two with alarms standing, one waiting out an on-delay, one
/// device out of service: what an operator leaves open on a 24-line terminal.
func busySite() -> (StatusReport, AlarmList) {
    let devices = (1...8).map { i in
        StatusReport.Device(
            id: "rocker-\(i)", profile: "rocking-bag-rb50", connected: i != 5, lastGoodPollS: 0.5, missedCycles: 0,
            activeAlarms: i <= 2 ? 2 : 0, batch: "B-\(i)", phase: "expansion", spec: "sha256:" + String(repeating: "a", count: 64),
            outOfService: i == 7 ? OutOfServiceItem(target: "rocker-7", user: "tech", reason: "WO-1", since: "2026-11-25T07:00:00Z") : nil)
    }
    let status = StatusReport(
        version: "1", site: "site-a", uptimeS: 10,
        store: .init(path: "/x", sizeBytes: 0, freeBytes: nil, pendingRows: 0, committedRows: 0, healthy: true, oldestUndelivered: nil),
        specs: [], controlSite: nil, alarms: .init(active: 4, unacknowledged: 3), devices: devices)
    var alarms: [AlarmList.Alarm] = []
    for i in 1...2 {
        alarms.append(.init(
            alarm: "rocker-\(i)/temperature/limit", state: "active_unacknowledged", level: "action", side: "high", priority: "high",
            since: "2026-11-25T07:47:34.794Z", shelvedUntil: nil, value: 38.4))
        alarms.append(.init(
            alarm: "rocker-\(i)/bag_present/discrete", state: "latched", level: "normal", side: "high", priority: "critical",
            since: "2026-11-25T07:40:00.000Z", shelvedUntil: nil, value: 1, acknowledgedBy: "alice", latched: true))
    }
    for i in 0..<12 {
        alarms.append(.init(
            alarm: "rocker-3/p\(i)/limit", state: "active_acknowledged", level: "alert", side: "low", priority: "low",
            since: "2026-11-25T07:00:00.000Z", shelvedUntil: nil, value: 1, acknowledgedBy: "bob"))
    }
    let pending = [AlarmList.Pending(
        alarm: "rocker-4/ph/limit", level: "alert", priority: "high", since: "2026-11-25T07:50:00.000Z", remainingS: 22.4, value: 7.45)]
    let service = [OutOfServiceItem(target: "rocker-7", user: "tech", reason: "WO-1", since: "2026-11-25T07:00:00Z")]
    return (status, AlarmList(alarms: alarms, pending: pending, outOfService: service))
}

@Suite("The watch screen, rendered to a fixed-size buffer")
struct WatchScreenTests {
    @Test("the all-devices view fits 80 x 24 with one line per device, the alarms, the pending one and the legend")
    func siteFits() {
        let (status, alarms) = busySite()
        for colour in [false, true] {
            let lines = WatchScreen(width: 80, height: 24, colour: colour).site(status, alarms: alarms, time: "07:51:00Z")
            #expect(lines.count <= 24)
            for line in lines { #expect(WatchScreen.visibleWidth(line) <= 80, "\(line)") }
            let text = lines.joined(separator: "\n")
            for i in 1...8 { #expect(text.contains("rocker-\(i) ")) }
            #expect(text.contains("ACTION unack"))
            #expect(text.contains("out of service"))
            #expect(text.contains("NO COMM"))
            #expect(text.contains("pending alarms (1)"))
            #expect(text.contains("23 s"), "on-delay left, rounded up")
            #expect(text.contains("more (pocarectl alarms)"), "alarms that do not fit are counted, not dropped silently")
            #expect(lines.last == WatchScreen.legend)
            #expect(text.contains("\u{1B}[") == colour)
        }
    }

    @Test("the most pressing alarms come first: unacknowledged action, then standing alert, then latched")
    func ordering() {
        let (status, alarms) = busySite()
        let lines = WatchScreen(width: 120, height: 60).site(status, alarms: alarms, time: "t")
        let index = { (needle: String) in lines.firstIndex { $0.contains(needle) } ?? -1 }
        #expect(index("rocker-2/temperature/limit") < index("rocker-1/bag_present/discrete"))
        #expect(index("rocker-3/p0/limit") < index("rocker-1/bag_present/discrete"))
        #expect(lines.contains { $0.contains("rocker-1/bag_present/discrete") && $0.contains("alice") && $0.hasPrefix("L") })
    }

    @Test("the device view shows values, trends with the band, standing and pending alarms, and stays aligned in colour")
    func deviceView() {
        let (_, alarms) = busySite()
        let values = DeviceValues(
            device: "rocker-4", time: "2026-11-25T07:51:00.000Z", batch: "B-4", phase: "expansion", spec: nil,
            values: [
                .init(parameter: "temperature", name: "T", unit: "Cel", quality: "good", value: .number(38.4), label: nil,
                      limits: Limits(alertLow: 36.5, alertHigh: 37.5, actionLow: 36, actionHigh: 38, target: 37)),
                .init(parameter: "ph", name: "pH", unit: "[pH]", quality: "good", value: .number(7.45), label: nil,
                      limits: Limits(alertLow: 7, alertHigh: 7.4, actionLow: 6.9, actionHigh: 7.5, target: 7.2)),
                .init(parameter: "bag_present", name: "Bag", unit: "", quality: "good", value: .flag(true), label: nil,
                      limits: Limits(alertLow: nil, alertHigh: nil, actionLow: nil, actionHigh: nil, target: nil, alarmWhen: false)),
                .init(parameter: "status", name: "S", unit: "", quality: "good", value: .number(4), label: "fault",
                      limits: Limits(alertLow: nil, alertHigh: nil, actionLow: nil, actionHigh: nil, target: nil, alarmLabels: ["fault"])),
            ] + (0..<30).map { .init(parameter: "extra\($0)", name: "x", unit: "", quality: "good", value: .number(1), label: nil, limits: nil) })
        let trends: [String: [Double?]] = ["temperature": [37, 37.2, 37.6, nil, 38.1, 38.4], "ph": Array(repeating: 7.2, count: 30)]
        let plain = WatchScreen(width: 100, height: 24).device(values, alarms: alarms, trends: trends, trendSeconds: 20)
        let coloured = WatchScreen(width: 100, height: 24, colour: true).device(values, alarms: alarms, trends: trends, trendSeconds: 20)
        #expect(plain.count <= 24 && coloured.count <= 24)
        #expect(plain.contains { $0.contains("pending alarms (1)") })
        #expect(plain.contains { $0.contains("more parameters") })
        #expect(plain.contains { $0.contains("alarm when false") })
        #expect(plain.contains { $0.contains("alarm on fault") })
        #expect(plain.contains { $0.contains("36.5..37.5") })
        #expect(plain.last == WatchScreen.legend)
        // The unit column starts at the same place whether the value is coloured or not.
        let unitColumn = { (lines: [String]) in
            lines.filter { $0.hasPrefix("temperature") || $0.hasPrefix("ph ") }.map { line -> Int in
                let visible = line.replacingOccurrences(of: "\u{1B}\\[[0-9]*m", with: "", options: .regularExpression)
                return visible.distance(from: visible.startIndex, to: visible.range(of: visible.contains("Cel") ? "Cel" : "[pH]")!.lowerBound)
            }
        }
        #expect(Set(unitColumn(coloured)).count == 1)
        #expect(unitColumn(coloured) == unitColumn(plain))
        #expect(coloured.contains { $0.contains("\u{1B}[31m38.4") }, "beyond the action limit is red")
    }

    @Test("a sparkline is as long as the trend, scaled over the values and the alert band, blank for a failed read")
    func sparkline() {
        let screen = WatchScreen()
        let limits = Limits(alertLow: 36.5, alertHigh: 37.5, actionLow: 36, actionHigh: 38, target: 37)
        let line = screen.sparklineForTest([36.5, nil, 37.5], limits: limits)
        #expect(line.count == WatchScreen.trendLength)
        #expect(line.hasSuffix("▁ █"))
    }
}
