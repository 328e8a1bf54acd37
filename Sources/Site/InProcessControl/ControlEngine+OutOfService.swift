import Foundation
import POCareCore

/// Alarms and devices taken out of service for maintenance, kept across restarts and reloads.
extension ControlEngine {
    /// Takes an alarm, or every alarm of a device, out of service for maintenance. The alarms
    /// are still evaluated and their transitions recorded, with state `out_of_service`, but
    /// nothing is annunciated until they are returned to service.
    public func setOutOfService(_ target: OutOfServiceTarget, user: String, reason: String, at time: Timestamp)
        throws(ControlError) -> [ControlEvent]
    {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .reasonRequired }
        guard let device = devices[target.device] else { throw .unknownDevice(target.device) }
        if case .alarm(let alarm) = target, !isKnown(alarm) { throw .unknownAlarm(alarm.description) }
        guard outOfServiceEntries[target] == nil else { throw .alreadyOutOfService(target.description) }
        let entry = OutOfServiceEntry(target: target, user: user, reason: reason, since: time.wall)
        outOfServiceEntries[target] = entry
        applyOutOfService(device)
        return [serviceEvent(.outOfService, entry, device: device, wall: time.wall)]
    }

    /// Returns an alarm or a device to service. A condition that still stands (or a latch
    /// that still holds) is annunciated again as unacknowledged.
    public func returnToService(_ target: OutOfServiceTarget, user: String, reason: String, at time: Timestamp)
        throws(ControlError) -> [ControlEvent]
    {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .reasonRequired }
        guard let entry = outOfServiceEntries.removeValue(forKey: target) else { throw .notOutOfService(target.description) }
        guard let device = devices[target.device] else {
            // The device was removed from the site meanwhile: its entry can still be closed.
            var event = ControlEvent(kind: .inService, time: time.wall, device: target.device)
            if case .alarm(let alarm) = target { event.alarm = alarm }
            event.user = user
            event.reason = reason
            event.since = entry.since
            return [event]
        }
        let before = outOfServiceIDs(device)
        applyOutOfService(device)
        for i in device.slots.indices {
            for kind in Self.alarmKinds {
                modify(device, i, kind) { record in
                    if before.contains(record.id) && !record.outOfService && record.isActiveOrLatched {
                        record.unacknowledged = true
                        record.acknowledgedBy = nil
                    }
                }
            }
        }
        if before.contains(device.communication.id) && !device.communication.outOfService && device.communication.level != .normal {
            device.communication.unacknowledged = true
            device.communication.acknowledgedBy = nil
        }
        var event = serviceEvent(.inService, entry, device: device, wall: time.wall)
        event.user = user
        event.reason = reason
        return [event]
    }

    /// Puts back an entry that was out of service when the daemon stopped, as it was (who, why,
    /// since when): maintenance does not end because the daemon restarted. Records nothing; the
    /// original `out_of_service` event stands.
    public func restoreOutOfService(_ entry: OutOfServiceEntry) {
        guard let device = devices[entry.target.device] else { return }
        if case .alarm(let alarm) = entry.target, !isKnown(alarm) { return }
        outOfServiceEntries[entry.target] = entry
        applyOutOfService(device)
    }

    /// Every alarm and device out of service now, oldest first.
    public func outOfService() -> [OutOfServiceEntry] {
        outOfServiceEntries.values.sorted { ($0.since, $0.target.description) < ($1.since, $1.target.description) }
    }

    func outOfServiceIDs(_ device: DeviceControl) -> Set<AlarmID> {
        var ids: Set<AlarmID> = device.communication.outOfService ? [device.communication.id] : []
        for slot in device.slots {
            for record in [slot.limit, slot.rate, slot.stale, slot.discrete] where record.outOfService { ids.insert(record.id) }
        }
        return ids
    }

    func applyOutOfService(_ device: DeviceControl) {
        let whole = outOfServiceEntries[.device(device.id)] != nil
        device.communication.outOfService = whole || outOfServiceEntries[.alarm(device.communication.id)] != nil
        for i in device.slots.indices {
            for kind in Self.alarmKinds {
                modify(device, i, kind) { record in
                    record.outOfService = whole || self.outOfServiceEntries[.alarm(record.id)] != nil
                }
            }
        }
    }

    func serviceEvent(_ kind: ControlEvent.Kind, _ entry: OutOfServiceEntry, device: DeviceControl, wall: Date) -> ControlEvent {
        var event = contextEvent(kind, device: device, wall: wall)
        if case .alarm(let alarm) = entry.target {
            var record = AlarmRecord(id: alarm)
            // An alarm the profile no longer has is described as a normal one.
            try? modify(device, alarm) { record = $0 }
            event.alarm = alarm
            event.level = record.level
            event.side = alarm.kind == .limit || alarm.kind == .rate ? record.side : nil
            event.state = record.state
        }
        event.user = entry.user
        event.reason = entry.reason
        if kind == .inService { event.since = entry.since }
        return event
    }
}
