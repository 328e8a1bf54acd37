import Foundation
import POCareCore

/// Reaching one alarm record of a device, and the events that describe it.
extension ControlEngine {
    func expireShelving(_ device: DeviceControl, at t: Int64, wall: Date, into events: inout [ControlEvent]) {
        func expire(_ record: inout AlarmRecord) {
            if let until = record.shelvedUntil, until <= t {
                events.append(unshelve(&record, device: device, user: Self.systemUser, reason: "shelving expired", wall: wall))
            }
        }
        expire(&device.communication)
        for i in device.slots.indices {
            expire(&device.slots[i].limit)
            expire(&device.slots[i].rate)
            expire(&device.slots[i].stale)
            expire(&device.slots[i].discrete)
        }
    }

    func unshelve(_ record: inout AlarmRecord, device: DeviceControl, user: String, reason: String, wall: Date)
        -> ControlEvent
    {
        record.shelvedUntil = nil
        record.shelvedUntilWall = nil
        device.shelvedCount -= 1
        // A condition that still stands is annunciated again.
        if record.level != .normal { record.unacknowledged = true }
        var event = alarmEvent(.unshelved, record, device: device, wall: wall)
        event.user = user
        event.reason = reason
        return event
    }

    func findDevice(_ alarm: AlarmID) throws(ControlError) -> DeviceControl {
        guard let device = devices[alarm.device] else { throw .unknownAlarm(alarm.description) }
        return device
    }

    func modify(_ device: DeviceControl, _ alarm: AlarmID, _ change: (inout AlarmRecord) -> Void) throws(ControlError) {
        if alarm.kind == .communication {
            change(&device.communication)
            return
        }
        guard let i = device.parameterIndex[alarm.parameter] else { throw .unknownAlarm(alarm.description) }
        modify(device, i, alarm.kind, change)
    }

    func modify(_ device: DeviceControl, _ i: Int, _ kind: AlarmKind, _ change: (inout AlarmRecord) -> Void) {
        switch kind {
        case .limit: change(&device.slots[i].limit)
        case .rate: change(&device.slots[i].rate)
        case .stale: change(&device.slots[i].stale)
        case .discrete: change(&device.slots[i].discrete)
        case .communication: change(&device.communication)
        }
    }

    func contextEvent(_ kind: ControlEvent.Kind, device: DeviceControl, wall: Date) -> ControlEvent {
        var event = ControlEvent(kind: kind, time: wall, device: device.id)
        event.batchId = device.batch?.batchId
        event.phase = device.batch?.phase
        event.specFingerprint = device.batch?.spec.fingerprint
        return event
    }

    func alarmEvent(_ kind: ControlEvent.Kind, _ record: AlarmRecord, device: DeviceControl, wall: Date) -> ControlEvent {
        var event = contextEvent(kind, device: device, wall: wall)
        event.alarm = record.id
        event.level = record.level
        // Only a limit or a rate has sides; stale, discrete and communication alarms do not.
        event.side = record.id.kind == .limit || record.id.kind == .rate ? record.side : nil
        event.state = record.state
        return event
    }

    func transitionEvent(
        _ t: AlarmRecord.Transition, _ record: AlarmRecord, device: DeviceControl, wall: Date, priority: AlarmPriority
    ) -> ControlEvent {
        let kind: ControlEvent.Kind =
            t.from == .normal ? .raised : t.to == .normal ? .cleared : t.to > t.from ? .escalated : .deescalated
        var event = alarmEvent(kind, record, device: device, wall: wall)
        event.previousLevel = t.from
        event.priority = priority
        return event
    }
}
