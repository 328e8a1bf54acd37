import Foundation
import POCareCore

/// The limits a device is held to, and what changes when its phase or running state changes.
extension ControlEngine {
    func bindLimits(_ device: DeviceControl) {
        device.hasBatch = device.batch != nil
        device.phaseName = device.batch?.phase ?? ""
        device.communicationLossPolls = device.batch?.spec.communicationLossPolls ?? device.profile.monitoring.communicationLossPolls
        device.runningLabels = device.batch?.spec.running?.labels ?? []
        let phase = device.batch.flatMap { $0.spec.phase($0.phase) }
        device.limited = []
        device.discreteSlots = []
        for i in device.slots.indices {
            let limits = phase?.limits(for: device.profile.parameters[i].id)
            device.slots[i].limits = limits
            device.slots[i].thresholds = limits.map(Thresholds.init) ?? Thresholds()
            // The spec's stale time while its batch runs, the profile's otherwise (and for
            // what the spec does not time).
            if device.slots[i].thresholds.staleAfter == .max { device.slots[i].thresholds.staleAfter = device.slots[i].profileStaleAfter }
            device.slots[i].stalePriority = (limits?.staleAfter != nil ? limits?.priority : nil) ?? device.profile.monitoring.stalePriority
            if limits?.discrete != nil {
                device.discreteSlots.append(i)
            } else if limits != nil && device.profile.parameters[i].dataType.isNumeric {
                device.limited.append(i)
            }
            if case .labels(let labels)? = limits?.discrete { device.slots[i].alarmLabels = labels } else { device.slots[i].alarmLabels = [] }
            let latch = limits?.latch ?? false
            for kind in Self.alarmKinds { modify(device, i, kind) { $0.latches = latch } }
        }
        device.staleSlots = device.slots.indices.filter { device.slots[$0].thresholds.staleAfter != .max }
    }

    func switchPhase(
        _ device: DeviceControl, to phase: String, user: String?, at t: Int64, wall: Date, into events: inout [ControlEvent]
    ) {
        guard let before = device.batch else { return }
        // Each excursion belongs to one phase: close it here and, if the alarm still stands,
        // open a new one under the new phase's limits.
        for i in device.limited + device.discreteSlots
        where device.slots[i].excursion.open && excursionAlarm(device.slots[i]).level != .normal {
            closeExcursion(device, i, batch: before, at: t, wall: wall, into: &events)
            device.slots[i].excursion.begin(at: t, wall: wall)
        }
        device.batch?.phase = phase
        bindLimits(device)
        // An alarm whose check the new phase does not make is suppressed by design, so it
        // cannot stand forever with nothing left to clear it.
        for i in device.slots.indices {
            let thresholds = device.slots[i].thresholds
            // A stale alarm stands on only while the value has been unchanged for the stale time
            // in force now (the new phase's, or the profile's where the phase sets none).
            let unchanged = t - device.slots[i].lastChange
            let checked: [AlarmKind: Bool] = [
                .limit: thresholds.hasRange, .rate: thresholds.maxRatePerMinute.isFinite,
                .stale: thresholds.staleAfter != .max && unchanged >= thresholds.staleAfter, .discrete: thresholds.isDiscrete,
            ]
            for kind in Self.alarmKinds where checked[kind] != true {
                modify(device, i, kind) { record in
                    let wasActive = record.level != .normal
                    record.reset(keepingAcknowledgement: true)
                    if wasActive {
                        var event = self.alarmEvent(.suppressed, record, device: device, wall: wall)
                        event.reason = kind == .stale && thresholds.staleAfter != .max
                            ? "unchanged for \(Duration.nanoseconds(unchanged)), within the stale time in phase \(phase) (\(Duration.nanoseconds(thresholds.staleAfter)))"
                            : "no \(kind.rawValue) check in phase \(phase)"
                        events.append(event)
                    }
                }
            }
            if !thresholds.hasRange && !thresholds.isDiscrete { device.slots[i].excursion = ExcursionTracker() }
        }
        var event = contextEvent(.phaseChanged, device: device, wall: wall)
        event.previousPhase = before.phase
        event.user = user
        event.reason = user == nil ? "reported by the device" : nil
        events.append(event)
    }

    func setRunning(_ device: DeviceControl, _ running: Bool, at t: Int64, wall: Date, into events: inout [ControlEvent]) {
        device.running = running
        if !running, let batch = device.batch {
            for i in device.limited + device.discreteSlots { closeExcursion(device, i, batch: batch, at: t, wall: wall, into: &events) }
        }
        for i in device.slots.indices {
            for kind in Self.alarmKinds {
                modify(device, i, kind) { record in
                    if !running { record.reset(keepingAcknowledgement: true) }
                    record.suppressed = !running
                }
            }
            device.slots[i].previousValue = nil
        }
        var event = contextEvent(running ? .unsuppressed : .suppressed, device: device, wall: wall)
        event.reason = running ? "device running" : "device not running"
        events.append(event)
    }

    func closeExcursion(
        _ device: DeviceControl, _ i: Int, batch: BatchContext, at t: Int64, wall: Date, openAtBatchEnd: Bool = false,
        into events: inout [ControlEvent]
    ) {
        guard device.slots[i].excursion.open else { return }
        let alarm = excursionAlarm(device.slots[i])
        if alarm.level != .normal {
            var record = contextEvent(.excursion, device: device, wall: wall)
            record.phase = batch.phase
            record.alarm = alarm.id
            record.priority = device.slots[i].thresholds.priority
            record.excursion = device.slots[i].excursion.record(alarm: alarm.id, batch: batch, end: wall, endMono: t)
            record.excursion?.openAtBatchEnd = openAtBatchEnd
            if openAtBatchEnd {
                record.reason = alarm.id.kind == .discrete
                    ? "still in its alarm condition when the batch ended" : "still outside the range when the batch ended"
            }
            events.append(record)
        }
        device.slots[i].excursion = ExcursionTracker()
    }

    /// The alarm whose condition an excursion of this slot follows.
    func excursionAlarm(_ slot: Slot) -> AlarmRecord {
        slot.thresholds.isDiscrete ? slot.discrete : slot.limit
    }
}
