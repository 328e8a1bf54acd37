import Foundation
import POCareCore

/// What operators do to alarms (acknowledge, shelve, unshelve, reset), what they are shown
/// (standing and pending alarms), and latches put back after a restart.
extension ControlEngine {
    public func acknowledge(_ alarm: AlarmID, user: String, reason: String, at time: Timestamp) throws(ControlError)
        -> [ControlEvent]
    {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .reasonRequired }
        let device = try findDevice(alarm)
        var result: Result<ControlEvent, ControlError> = .failure(.unknownAlarm(alarm.description))
        try modify(device, alarm) { record in
            guard record.unacknowledged, !record.suppressed, !record.outOfService else {
                result = .failure(.nothingToAcknowledge(alarm, record.state))
                return
            }
            record.unacknowledged = false
            record.acknowledgedBy = user
            if !record.isActiveOrLatched { record.activeSince = nil }
            var event = self.alarmEvent(.acknowledged, record, device: device, wall: time.wall)
            event.user = user
            event.reason = reason
            result = .success(event)
        }
        return [try result.get()]
    }

    /// Shelves an alarm: it is still evaluated and recorded but not annunciated until the
    /// shelf expires or an operator unshelves it.
    public func shelve(_ alarm: AlarmID, for duration: Duration, user: String, reason: String, at time: Timestamp)
        throws(ControlError) -> [ControlEvent]
    {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .reasonRequired }
        guard duration >= .seconds(1) && duration <= .seconds(86_400) else { throw .invalidShelveDuration(duration) }
        let device = try findDevice(alarm)
        var result: Result<ControlEvent, ControlError> = .failure(.unknownAlarm(alarm.description))
        try modify(device, alarm) { record in
            guard !record.suppressed else {
                result = .failure(.suppressed(alarm))
                return
            }
            guard !record.outOfService else {
                result = .failure(.outOfService(alarm))
                return
            }
            if record.shelvedUntil == nil { device.shelvedCount += 1 }
            record.shelvedUntil = time.monotonic + duration.nanoseconds
            record.shelvedUntilWall = time.wall.addingTimeInterval(Double(duration.nanoseconds) / 1e9)
            var event = self.alarmEvent(.shelved, record, device: device, wall: time.wall)
            event.user = user
            event.reason = reason
            event.until = record.shelvedUntilWall
            result = .success(event)
        }
        return [try result.get()]
    }

    public func unshelve(_ alarm: AlarmID, user: String, reason: String, at time: Timestamp) throws(ControlError)
        -> [ControlEvent]
    {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .reasonRequired }
        let device = try findDevice(alarm)
        var result: Result<ControlEvent, ControlError> = .failure(.notShelved(alarm))
        try modify(device, alarm) { record in
            guard record.shelvedUntil != nil else { return }
            result = .success(self.unshelve(&record, device: device, user: user, reason: reason, wall: time.wall))
        }
        return [try result.get()]
    }

    /// Whether the engine has this alarm (its device and parameter exist).
    public func isKnown(_ alarm: AlarmID) -> Bool {
        guard let device = devices[alarm.device] else { return false }
        return alarm.kind == .communication || device.parameterIndex[alarm.parameter] != nil
    }

    /// Alarms that are not normal, for operators and reports. An alarm out of service is
    /// listed when it was taken out of service itself or when its condition stands; the
    /// quiet alarms of a device out of service are not (the device's entry stands for them).
    public func alarms() -> [AlarmSnapshot] {
        var result: [AlarmSnapshot] = []
        func add(_ record: AlarmRecord, priority: AlarmPriority) {
            switch record.state {
            case .normal, .suppressed: return
            case .outOfService:
                guard outOfServiceEntries[.alarm(record.id)] != nil || record.isActiveOrLatched || record.unacknowledged
                else { return }
            default: break
            }
            var snapshot = record.snapshot(priority: priority)
            snapshot.outOfService = outOfServiceEntries[.alarm(record.id)] ?? outOfServiceEntries[.device(record.id.device)]
            result.append(snapshot)
        }
        for device in devices.values {
            add(device.communication, priority: device.profile.monitoring.communicationPriority)
            for slot in device.slots {
                let priority = slot.limits?.priority ?? .medium
                for record in [slot.limit, slot.rate, slot.discrete] { add(record, priority: priority) }
                add(slot.stale, priority: slot.stalePriority)
            }
        }
        return result.sorted { $0.id < $1.id }
    }

    /// Alarms on their way up, still waiting out their on-delay, as of each device's latest sample.
    public func pendingAlarms() -> [PendingAlarm] {
        var result: [PendingAlarm] = []
        for device in devices.values where device.hasBatch && device.running {
            for i in device.limited + device.discreteSlots {
                let slot = device.slots[i]
                // Shelved or out of service, it would not be annunciated when it stands either.
                for record in [slot.limit, slot.rate, slot.discrete] where record.shelvedUntil == nil && !record.outOfService {
                    guard let p = record.pending(onDelay: slot.thresholds.onDelay) else { continue }
                    result.append(PendingAlarm(
                        id: record.id, level: p.level, side: record.level == .normal ? .high : record.side,
                        priority: slot.thresholds.priority, since: p.since, remaining: .nanoseconds(p.remaining),
                        lastValue: record.lastValue))
                }
            }
        }
        return result.sorted { $0.remaining < $1.remaining || ($0.remaining == $1.remaining && $0.id < $1.id) }
    }

    /// Puts back a latch that stood when the daemon stopped: only an operator's reset (or the
    /// end of the batch) releases a latch, and a restart is neither. It is annunciated again
    /// (unacknowledged), so an operator sees it after the restart. Records nothing.
    public func restoreLatch(_ alarm: AlarmID, since: Date?) {
        guard let device = devices[alarm.device] else { return }
        // An alarm the reloaded profile no longer has has no latch to restore.
        try? modify(device, alarm) { record in
            guard record.latches else { return }
            record.latched = true
            record.unacknowledged = true
            record.acknowledgedBy = nil
            record.activeSince = record.activeSince ?? since
        }
    }

    /// Releases a latched alarm whose condition has returned: the operator has seen to it.
    public func reset(_ alarm: AlarmID, user: String, reason: String, at time: Timestamp) throws(ControlError) -> [ControlEvent] {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .reasonRequired }
        let device = try findDevice(alarm)
        var result: Result<ControlEvent, ControlError> = .failure(.notLatched(alarm))
        try modify(device, alarm) { record in
            if record.latches && record.level != .normal {
                result = .failure(.conditionStands(alarm))
                return
            }
            guard record.latched else { return }
            record.latched = false
            if !record.unacknowledged { record.activeSince = nil }
            var event = self.alarmEvent(.reset, record, device: device, wall: time.wall)
            event.user = user
            event.reason = reason
            result = .success(event)
        }
        return [try result.get()]
    }
}
