import Foundation
import POCareCore

/// Each sample against the limits and discrete conditions in force: alarm transitions and the
/// excursions they open and close.
extension ControlEngine {
    /// Evaluates one poll of one device and appends what changed to `events`.
    public func evaluate(_ sample: Sample, into events: inout [ControlEvent]) {
        // Hot path: per sample it reads only the device's cached scalars, never the batch
        // context itself (copying it would retain the spec's strings and arrays each time).
        guard let device = devices[sample.deviceId], sample.readings.count == device.slots.count else { return }
        let t = sample.monotonicTime
        let wall = sample.time
        if device.shelvedCount > 0 { expireShelving(device, at: t, wall: wall, into: &events) }

        if device.hasBatch, let index = device.phaseIndex, sample.readings[index].quality == .good,
            let label = sample.readings[index].label, label != device.phaseName,
            device.batch?.spec.phase(label) != nil
        {
            switchPhase(device, to: label, user: nil, at: t, wall: wall, into: &events)
        }
        if device.hasBatch, let index = device.runningIndex, sample.readings[index].quality == .good {
            let running = device.runningLabels.isEmpty
                ? (sample.readings[index].value?.number ?? 0) != 0
                : sample.readings[index].label.map(device.runningLabels.contains) ?? false
            if running != device.running { setRunning(device, running, at: t, wall: wall, into: &events) }
        }

        var anyGood = false
        if device.running {
            let limited = device.limited
            sample.readings.withUnsafeBufferPointer { readings in
                device.slots.withUnsafeMutableBufferPointer { slots in
                    for i in limited {
                        guard readings[i].quality == .good, case .number(let v)? = readings[i].value else { continue }
                        anyGood = true
                        evaluate(&slots[i], device: device, value: v, at: t, wall: wall, into: &events)
                    }
                    for i in device.discreteSlots where readings[i].quality == .good {
                        anyGood = true
                        evaluateDiscrete(&slots[i], device: device, reading: readings[i], at: t, wall: wall, into: &events)
                    }
                }
            }
        }
        watchStale(device, sample, at: t, wall: wall, into: &events)
        if !anyGood { anyGood = sample.readings.contains { $0.quality == .good } }
        watchCommunication(device, good: anyGood, missedPolls: sample.missedCycles, at: t, wall: wall, into: &events)
    }

    /// A flag or status against its discrete condition. The excursion runs while the condition
    /// holds; its area is the time in the condition, in seconds.
    func evaluateDiscrete(
        _ slot: inout Slot, device: DeviceControl, reading: Reading, at t: Int64, wall: Date, into events: inout [ControlEvent]
    ) {
        let limits = slot.thresholds
        let met = limits.matchesLabels
            ? reading.label.map(slot.alarmLabels.contains) ?? false
            : (reading.value?.number).map { ($0 != 0) == limits.alarmWhen } ?? false
        let v = reading.value?.number ?? 0
        slot.discrete.lastValue = v
        // A status shows its label; a flag shows true or false.
        slot.discrete.lastLabel = reading.label ?? (v != 0 ? "true" : "false")
        if met && !slot.excursion.open { slot.excursion.begin(at: t, wall: wall) }
        if slot.excursion.open { slot.excursion.add(value: v, outside: met ? 1 : 0, side: .high, at: t) }
        if let transition = slot.discrete.step(
            toward: met ? limits.discreteLevel : .normal, side: .high, at: t, wall: wall, onDelay: limits.onDelay,
            offDelay: limits.offDelay)
        {
            var event = transitionEvent(transition, slot.discrete, device: device, wall: wall, priority: limits.priority)
            event.value = v
            event.label = reading.label
            events.append(event)
            if transition.to == .normal, slot.excursion.open, let batch = device.batch {
                var record = contextEvent(.excursion, device: device, wall: wall)
                record.alarm = slot.discrete.id
                record.priority = limits.priority
                record.excursion = slot.excursion.record(alarm: slot.discrete.id, batch: batch, end: wall, endMono: t)
                events.append(record)
                slot.excursion = ExcursionTracker()
            }
        }
        if slot.excursion.open && slot.discrete.level > slot.excursion.worstLevel {
            slot.excursion.worstLevel = slot.discrete.level
        }
        // A condition shorter than the on-delay is not an excursion.
        if slot.discrete.level == .normal && !slot.discrete.isPendingUp && !met { slot.excursion.open = false }
    }

    func evaluate(
        _ slot: inout Slot, device: DeviceControl, value v: Double, at t: Int64, wall: Date,
        into events: inout [ControlEvent]
    ) {
        let limits = slot.thresholds
        slot.limit.lastValue = v

        if limits.hasRange {
            let (outside, outsideSide) = limits.distanceOutside(v)
            let (target, side) = limits.level(v, standing: slot.limit.level, side: slot.limit.side)
            if outside > 0 && !slot.excursion.open { slot.excursion.begin(at: t, wall: wall) }
            if slot.excursion.open {
                slot.excursion.add(value: v, outside: outside, side: outsideSide, at: t)
            }
            if let transition = slot.limit.step(
                toward: target, side: side, at: t, wall: wall, onDelay: limits.onDelay, offDelay: limits.offDelay)
            {
                var event = transitionEvent(transition, slot.limit, device: device, wall: wall, priority: limits.priority)
                event.value = v
                event.limit = limits.limit(level: transition.to, side: transition.side)
                events.append(event)
                if transition.to == .normal, slot.excursion.open, let batch = device.batch {
                    var record = contextEvent(.excursion, device: device, wall: wall)
                    record.alarm = slot.limit.id
                    record.priority = limits.priority
                    record.excursion = slot.excursion.record(alarm: slot.limit.id, batch: batch, end: wall, endMono: t)
                    events.append(record)
                    slot.excursion = ExcursionTracker()
                }
            }
            if slot.excursion.open && slot.limit.level > slot.excursion.worstLevel {
                slot.excursion.worstLevel = slot.limit.level
            }
            // A dip shorter than the on-delay is not an excursion.
            if slot.limit.level == .normal && !slot.limit.isPendingUp && outside == 0 {
                slot.excursion.open = false
            }
        }

        if limits.maxRatePerMinute.isFinite, let previous = slot.previousValue, t > slot.previousTime {
            let perMinute = (v - previous) / (Double(t - slot.previousTime) / 60e9)
            if let transition = slot.rate.step(
                toward: abs(perMinute) > limits.maxRatePerMinute ? .alert : .normal, side: perMinute >= 0 ? .high : .low,
                at: t, wall: wall, onDelay: limits.onDelay, offDelay: limits.offDelay)
            {
                var event = transitionEvent(transition, slot.rate, device: device, wall: wall, priority: limits.priority)
                event.value = perMinute
                event.limit = transition.to == .normal ? nil : (perMinute >= 0 ? limits.maxRatePerMinute : -limits.maxRatePerMinute)
                events.append(event)
            }
            slot.rate.lastValue = perMinute
        }

        slot.previousValue = v
        slot.previousTime = t
    }
}
