import Acquisition
import ControlAPI
import ControlSiteLink
import POCareContract
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteStore
import StoreReports

/// The operators' alarm commands: the list and its history, acknowledge, shelve and unshelve.
extension SiteDaemon {
    func alarms(_ query: AlarmQuery) async throws(ControlResponse.Failure) -> ControlResult {
        if query.history {
            let path = store.settings.path
            let ids = site.devices.map(\.id).filter { id in query.device.map { $0 == id } ?? true }
            let limit = query.limit ?? 200
            return .alarmHistory(try await offPool { () throws(ControlResponse.Failure) in
                try Self.alarmHistory(storePath: path, devices: ids, limit: limit)
            })
        }
        let pending = engine.pendingAlarms().map { p in
            AlarmList.Pending(
                alarm: p.id.description, level: p.level.description, priority: p.priority.rawValue, since: UTCTime.format(p.since),
                remainingS: Double(p.remaining.nanoseconds) / 1e9, value: p.lastValue)
        }
        return .alarms(AlarmList(
            alarms: engine.alarms().map { alarm in
                AlarmList.Alarm(
                    alarm: alarm.id.description, state: alarm.state.rawValue, level: alarm.level.description, side: alarm.side.rawValue,
                    priority: alarm.priority.rawValue, since: alarm.activeSince.map(UTCTime.format),
                    shelvedUntil: alarm.shelvedUntil.map(UTCTime.format), value: alarm.lastValue,
                    acknowledgedBy: alarm.acknowledgedBy, latched: alarm.latched ? true : nil,
                    outOfService: alarm.outOfService.map(OutOfServiceItem.init), label: alarm.lastLabel,
                    unacknowledged: alarm.unacknowledged)
            },
            pending: pending, outOfService: engine.outOfService().map(OutOfServiceItem.init)))
    }

    static func alarmHistory(storePath: String, devices: [String], limit: Int) throws(ControlResponse.Failure) -> AlarmHistory {
        let eventsByDevice = try readingStore(storePath) { reader in
            try devices.map { try reader.events(stream: .events(device: $0), after: 0, limit: 1_000_000) }
        }
        var entries: [(time: Date, entry: AlarmHistory.Entry)] = []
        for events in eventsByDevice {
            for stored in events where stored.alarm != nil {
                let event = ControlEvent.stored(stored.body)
                entries.append((stored.time, AlarmHistory.Entry(
                    time: UTCTime.format(stored.time), device: stored.device, kind: stored.kind, alarm: stored.alarm ?? "",
                    level: event?.level?.description, value: event?.value, limit: event?.limit, user: event?.user, reason: event?.reason)))
            }
        }
        entries.sort { $0.time < $1.time }
        return AlarmHistory(history: entries.suffix(limit).map(\.entry))
    }

    func alarmID(_ text: String) throws(ControlResponse.Failure) -> AlarmID {
        guard let alarm = AlarmID(text) else {
            throw .init(code: .badRequest, message: "give the alarm as device/parameter/kind or device/communication, not '\(text)'")
        }
        return alarm
    }

    func result(_ alarm: AlarmID, by peer: ControlPeer) -> AlarmActionResult {
        AlarmActionResult(
            alarm: alarm.description, state: engine.alarms().first { $0.id == alarm }?.state.rawValue ?? "normal", user: peer.user)
    }

    func acknowledge(_ action: AlarmAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        let current = engine.alarms().first { $0.id == alarm }
        guard let current, current.state == .unacknowledged || current.state == .returnedUnacknowledged else {
            throw .init(code: .refused, message: "alarm \(alarm) has nothing to acknowledge (state \(current?.state.rawValue ?? "normal"))")
        }
        // An alarm whose condition has gone: the acknowledgement closes it, nothing stands.
        let cleared = current.level == .normal && !current.latched
        let note = cleared ? "alarm \(alarm) had already cleared; acknowledged, it is back to normal and nothing stands" : nil
        try await audit(AuditAction(
            user: peer.user, action: "alarm.acknowledge", target: alarm.description, reason: reason, oldValue: current.state.rawValue,
            newValue: (current.level != .normal ? AlarmState.acknowledged : current.latched ? .latched : .normal).rawValue
                + (cleared ? " (the alarm had cleared)" : "")))
        try apply { try engine.acknowledge(alarm, user: peer.user, reason: reason, at: now()) }
        var answer = result(alarm, by: peer)
        answer.note = note
        return answer
    }

    func shelve(_ action: ShelveAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        guard let duration = parseDuration(action.duration), duration >= .seconds(1), duration <= .seconds(86_400) else {
            throw .init(code: .badRequest, message: "give how long with --for, between 1s and 24h (e.g. 30m), not '\(action.duration)'")
        }
        guard engine.isKnown(alarm) else { throw .init(code: .refused, message: "unknown alarm \(alarm)") }
        let current = engine.alarms().first { $0.id == alarm }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.shelve", target: alarm.description, reason: reason,
            oldValue: current?.state.rawValue ?? "normal", newValue: "for \(duration)"))
        try apply { try engine.shelve(alarm, for: duration, user: peer.user, reason: reason, at: now()) }
        return result(alarm, by: peer)
    }

    func unshelve(_ action: AlarmAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        guard engine.alarms().first(where: { $0.id == alarm })?.state == .shelved else {
            throw .init(code: .refused, message: "alarm \(alarm) is not shelved")
        }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.unshelve", target: alarm.description, reason: reason, oldValue: AlarmState.shelved.rawValue))
        try apply { try engine.unshelve(alarm, user: peer.user, reason: reason, at: now()) }
        return result(alarm, by: peer)
    }
}
