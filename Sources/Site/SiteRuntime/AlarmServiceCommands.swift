import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import POCareCore
import SiteStore

/// Resetting latched alarms and taking alarms or devices out of service and back: checked,
/// audited with the peer's Unix user, then applied, like every other operator command.
extension SiteDaemon {
    func reset(_ action: AlarmAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        guard engine.isKnown(alarm) else { throw .init(code: .refused, message: "unknown alarm \(alarm)") }
        let current = engine.alarms().first { $0.id == alarm }
        guard let current, current.latched else {
            throw .init(code: .refused, message: "alarm \(alarm) is not latched (state \(current?.state.rawValue ?? "normal")); only a latched alarm whose condition has returned can be reset")
        }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.reset", target: alarm.description, reason: reason, oldValue: current.state.rawValue,
            newValue: "released"))
        try apply { try engine.reset(alarm, user: peer.user, reason: reason, at: now()) }
        return result(alarm, by: peer)
    }

    func takeOutOfService(_ action: ServiceAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let target = try serviceTarget(action.target)
        let reason = try requireReason(action.reason)
        if engine.outOfService().contains(where: { $0.target == target }) {
            throw .init(code: .refused, message: "\(target) is already out of service")
        }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.out_of_service", target: target.description, reason: reason, oldValue: "in service",
            newValue: "out of service"))
        try apply { try engine.setOutOfService(target, user: peer.user, reason: reason, at: now()) }
        return AlarmActionResult(alarm: target.description, state: AlarmState.outOfService.rawValue, user: peer.user)
    }

    func returnToService(_ action: ServiceAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        // An entry whose device a reload removed can still be returned.
        let listed = OutOfServiceTarget(action.target).flatMap { text in engine.outOfService().first { $0.target == text }?.target }
        let target: OutOfServiceTarget
        if let listed { target = listed } else { target = try serviceTarget(action.target) }
        let reason = try requireReason(action.reason)
        guard let entry = engine.outOfService().first(where: { $0.target == target }) else {
            throw .init(code: .refused, message: "\(target) is not out of service")
        }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.in_service", target: target.description, reason: reason,
            oldValue: "out of service since \(UTCTime.format(entry.since)) by \(entry.user)", newValue: "in service"))
        try apply { try engine.returnToService(target, user: peer.user, reason: reason, at: now()) }
        let state: String = switch target {
        case .alarm(let alarm): result(alarm, by: peer).state
        case .device: "in_service"
        }
        return AlarmActionResult(alarm: target.description, state: state, user: peer.user)
    }

    private func serviceTarget(_ text: String) throws(ControlResponse.Failure) -> OutOfServiceTarget {
        guard let target = OutOfServiceTarget(text) else {
            throw .init(code: .badRequest, message: "give an alarm as device/parameter/kind or device/communication, or a device id, not '\(text)'")
        }
        guard site.devices.contains(where: { $0.id == target.device }) else {
            throw .init(code: .badRequest, message: "unknown device '\(target.device)'; devices: \(site.devices.map(\.id).joined(separator: ", "))")
        }
        if case .alarm(let alarm) = target, !engine.isKnown(alarm) {
            throw .init(code: .refused, message: "unknown alarm \(alarm)")
        }
        return target
    }

    // MARK: Batch report: out of service and latched alarms
    //
    // Kept apart from the report's main builder: the intervals out of service and the resets
    // of latched alarms, read from the batch's events.

    func withAlarmService(_ report: BatchReport) async throws(ControlResponse.Failure) -> BatchReport {
        let path = store.settings.path
        let open = engine.outOfService()
        return try await offPool { () throws(ControlResponse.Failure) in
            try Self.withAlarmService(report, storePath: path, openNow: open)
        }
    }

    /// The same, reading the store here (on a thread that may block).
    static func withAlarmService(_ report: BatchReport, storePath: String, openNow: [OutOfServiceEntry])
        throws(ControlResponse.Failure) -> BatchReport
    {
        var report = report
        let events = try readingStore(storePath) { reader in
            try reader.events(batch: report.batch).compactMap { ControlEvent.stored($0.body) }
        }
        report.alarmService = alarmService(events: events, openNow: openNow, ended: report.ended != nil)
        return report
    }

    static func alarmService(events: [ControlEvent], openNow: [OutOfServiceEntry], ended: Bool) -> BatchReport.AlarmService {
        var intervals: [BatchReport.OutOfServiceInterval] = []
        var opened: [String: ControlEvent] = [:]
        for event in events {
            let target = event.alarm?.description ?? event.device
            switch event.kind {
            case .outOfService:
                opened[target] = event
            case .inService:
                let start = opened.removeValue(forKey: target)
                intervals.append(.init(
                    target: target, from: UTCTime.format(event.since ?? start?.time ?? event.time), to: UTCTime.format(event.time),
                    takenBy: start?.user, reason: start?.reason, returnedBy: event.user, returnReason: event.reason))
            default:
                break
            }
        }
        // Still out of service when the report was made.
        for (target, start) in opened.sorted(by: { $0.key < $1.key }) {
            intervals.append(.init(
                target: target, from: UTCTime.format(start.time), to: nil, takenBy: start.user, reason: start.reason, returnedBy: nil,
                returnReason: nil))
        }
        if !ended {
            for entry in openNow where !intervals.contains(where: { $0.target == entry.target.description && $0.to == nil }) {
                intervals.append(.init(
                    target: entry.target.description, from: UTCTime.format(entry.since), to: nil, takenBy: entry.user,
                    reason: entry.reason, returnedBy: nil, returnReason: nil))
            }
        }
        let resets = events.filter { $0.kind == .reset }.map { event in
            BatchReport.LatchReset(
                alarm: event.alarm?.description ?? event.device, time: UTCTime.format(event.time), user: event.user ?? "",
                reason: event.reason ?? "")
        }
        let latchedAtClear = Set(events.filter { $0.kind == .cleared && $0.state == .latched }.compactMap { $0.alarm?.description })
        return .init(outOfService: intervals, latchResets: resets, latchedAlarms: latchedAtClear.sorted())
    }
}

extension OutOfServiceItem {
    init(_ entry: OutOfServiceEntry) {
        self.init(target: entry.target.description, user: entry.user, reason: entry.reason, since: UTCTime.format(entry.since))
    }
}
