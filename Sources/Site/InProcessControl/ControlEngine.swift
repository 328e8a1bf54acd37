import Foundation
import POCareCore

/// Holds every value from every device against the approved spec of the batch it is running,
/// the moment the sample arrives, and watches every device whatever it runs: communication
/// loss and stale (frozen) measurements raise alarms with or without a batch. Pure: no I/O, no
/// clocks of its own; time comes from the samples and from the caller of operator actions, so
/// the same inputs give the same events at every site.
///
/// Not thread-safe by design: one owner (the daemon's pipeline task) feeds it in order.
public final class ControlEngine {
    /// Operator actions done by the engine itself (shelving expiry) are attributed to this user.
    public static let systemUser = "pocared"

    struct Slot {
        var limits: ParameterLimits?
        /// The limits as plain numbers, so the per-sample path touches no strings or optionals.
        var thresholds = Thresholds()
        var limit: AlarmRecord
        var rate: AlarmRecord
        var stale: AlarmRecord
        var discrete: AlarmRecord
        var excursion = ExcursionTracker()
        /// For a discrete rule on a status: the labels that raise the alarm.
        var alarmLabels: [String] = []
        var previousValue: Double?
        var previousTime: Int64 = 0
        /// The last value seen and when it last changed, kept across batches: a sensor is stale
        /// from the last change of its value, not from the start of a batch.
        var staleValue: Double?
        var lastChange: Int64 = 0
        /// The profile's stale time for the parameter (`.max`: none), and the one in force.
        var profileStaleAfter: Int64 = .max
        var stalePriority = AlarmPriority.medium
        var hasRange = false
    }

    final class DeviceControl {
        let id: String
        var profile: DeviceProfile
        let parameterIndex: [String: Int]
        var batch: BatchContext?
        var slots: [Slot]
        var limited: [Int] = []
        /// Slots of flags and statuses with a discrete alarm in the current phase.
        var discreteSlots: [Int] = []
        var communication: AlarmRecord
        var badPolls = 0
        /// Polls without a good value (missed polls included) in the loss that stands or last stood.
        var lostPolls = 0
        /// Slots whose stale time is in force, with or without a batch.
        var staleSlots: [Int] = []
        var running = true
        var runningIndex: Int?
        var phaseIndex: Int?
        var shelvedCount = 0
        // Copies of what the hot path needs from the batch, refreshed whenever it changes.
        var hasBatch = false
        var phaseName = ""
        var communicationLossPolls = Int.max
        var runningLabels: [String] = []

        init(id: String, profile: DeviceProfile) {
            self.id = id
            self.profile = profile
            var index: [String: Int] = [:]
            for (i, p) in profile.parameters.enumerated() { index[p.id] = i }
            self.parameterIndex = index
            self.slots = profile.parameters.map { p in
                Slot(
                    limit: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .limit)),
                    rate: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .rate)),
                    stale: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .stale)),
                    discrete: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .discrete)))
            }
            self.communication = AlarmRecord(id: .communication(id))
            applyProfileMonitoring()
        }

        /// The profile's stale times per slot.
        func applyProfileMonitoring() {
            for (i, stale) in profile.staleTimes().enumerated() { slots[i].profileStaleAfter = stale?.nanoseconds ?? .max }
        }
    }

    var devices: [String: DeviceControl] = [:]
    /// Alarms and devices out of service, until an operator returns them. Kept apart from
    /// the alarm records so that the list can be saved and restored as it is.
    private var outOfServiceEntries: [OutOfServiceTarget: OutOfServiceEntry] = [:]
    static let alarmKinds: [AlarmKind] = [.limit, .rate, .stale, .discrete]

    public init() {}

    /// Makes a device known to the engine: its communication and the stale times of its
    /// measurements are watched from its first sample; its limits once it runs a batch.
    public func register(device: String, profile: DeviceProfile) {
        let control = DeviceControl(id: device, profile: profile)
        bindLimits(control)
        devices[device] = control
        // What maintenance took out of service stays out across a reload of the device.
        applyOutOfService(control)
    }

    public func batch(of device: String) -> BatchContext? { devices[device]?.batch }

    /// The devices running `batchId` now (a batch may span devices: one record per device).
    public func devices(running batchId: String) -> [String] {
        devices.values.filter { $0.batch?.batchId == batchId }.map(\.id).sorted()
    }

    // MARK: Batches

    /// Starts a batch: from now on every sample of the device is held to `spec` in `phase`.
    /// With `followDevicePhase`, the phase follows the label the device reports in its
    /// enumerated `phase` parameter (starting from `phase`, or the spec's first phase).
    /// `user` and `reason` are recorded in the event.
    ///
    /// With `resumingAfter`, the batch was running when the daemon stopped and is taken up again
    /// exactly as it was (spec, phase): the event is `batch_resumed`, naming the interval nobody
    /// watched (from the last record before the stop to now). Alarm states start afresh and are
    /// evaluated from the first new sample.
    public func startBatch(
        device deviceId: String, batchId: String, spec: IPCSpec, phase: String? = nil,
        followDevicePhase: Bool = false, user: String? = nil, reason: String? = nil, resumingAfter lastWatched: Date? = nil,
        startingMaterial: String? = nil, at time: Timestamp
    ) throws(ControlError) -> [ControlEvent] {
        guard let device = devices[deviceId] else { throw .unknownDevice(deviceId) }
        if let running = device.batch { throw .batchRunning(device: deviceId, batch: running.batchId) }
        guard spec.identity.profiles.contains(device.profile.id) else {
            throw .specNotForProfile(spec: spec.identity.documentId, profile: device.profile.id)
        }
        let initial = phase ?? spec.phases.first?.phase ?? ""
        guard spec.phase(initial) != nil else { throw .unknownPhase(initial, known: spec.phases.map(\.phase)) }
        let source: BatchContext.PhaseSource = followDevicePhase ? .device(parameterId: "phase") : .manual
        device.batch = BatchContext(batchId: batchId, spec: spec, phase: initial, phaseSource: source)
        device.phaseIndex = followDevicePhase ? device.parameterIndex["phase"] : nil
        device.runningIndex = spec.running.flatMap { device.parameterIndex[$0.parameterId] }
        device.running = true
        // Suppression belongs to the batch that saw the device stop; a new batch starts clean.
        // Communication and stale tracking belong to the device and go on.
        for i in device.slots.indices {
            device.slots[i].limit.suppressed = false
            device.slots[i].rate.suppressed = false
            device.slots[i].stale.suppressed = false
            device.slots[i].discrete.suppressed = false
            device.slots[i].previousValue = nil
        }
        bindLimits(device)
        var event = contextEvent(lastWatched == nil ? .batchStarted : .batchResumed, device: device, wall: time.wall)
        event.user = user
        event.reason = reason ?? (followDevicePhase ? "phase follows the device" : nil)
        event.startingMaterial = startingMaterial
        if let lastWatched {
            event.since = lastWatched
            event.until = time.wall
        }
        return [event]
    }

    /// Moves a device's batch to another phase of its spec.
    public func changePhase(device deviceId: String, to phase: String, user: String? = nil, reason: String? = nil, at time: Timestamp)
        throws(ControlError) -> [ControlEvent]
    {
        guard let device = devices[deviceId] else { throw .unknownDevice(deviceId) }
        guard let batch = device.batch else { throw .noBatch(device: deviceId) }
        guard batch.spec.phase(phase) != nil else { throw .unknownPhase(phase, known: batch.spec.phases.map(\.phase)) }
        // Recording a change that changes nothing would make the record say something happened.
        guard phase != batch.phase else { throw .samePhase(phase) }
        var events: [ControlEvent] = []
        switchPhase(device, to: phase, user: user, at: time.monotonic, wall: time.wall, into: &events)
        if let reason, let last = events.indices.last, events[last].kind == .phaseChanged { events[last].reason = reason }
        return events
    }

    /// Ends a device's batch. What still stands is recorded as it stood, never as cleared: an
    /// open excursion becomes a record marked open at batch end with its duration so far, and
    /// each standing alarm an `open_at_batch_end` event. Shelving belongs to the batch and ends
    /// with it. Unacknowledged alarms stay unacknowledged until an operator acknowledges them.
    public func endBatch(device deviceId: String, user: String? = nil, reason: String? = nil, at time: Timestamp) throws(ControlError)
        -> [ControlEvent]
    {
        guard let device = devices[deviceId] else { throw .unknownDevice(deviceId) }
        guard let batch = device.batch else { throw .noBatch(device: deviceId) }
        var events: [ControlEvent] = []
        for i in device.limited + device.discreteSlots {
            closeExcursion(device, i, batch: batch, at: time.monotonic, wall: time.wall, openAtBatchEnd: true, into: &events)
        }
        func standing(_ record: inout AlarmRecord, keeps: Bool = false) {
            if record.shelvedUntil != nil {
                events.append(unshelve(&record, device: device, user: Self.systemUser, reason: "batch ended", wall: time.wall))
            }
            // A latch belongs to the batch whose condition set it.
            if record.latched {
                record.latched = false
                if !record.unacknowledged { record.activeSince = nil }
                var event = alarmEvent(.reset, record, device: device, wall: time.wall)
                event.user = Self.systemUser
                event.reason = "batch ended"
                events.append(event)
            }
            guard record.level != .normal else { return }
            let from = record.level
            var event = alarmEvent(.openAtBatchEnd, record, device: device, wall: time.wall)
            event.previousLevel = from
            event.reason = "still standing when batch \(batch.batchId) ended"
            events.append(event)
            // Communication and stale values are watched without a batch: they go on standing.
            if !keeps { record.reset(keepingAcknowledgement: true) }
        }
        for i in device.slots.indices {
            standing(&device.slots[i].limit)
            standing(&device.slots[i].rate)
            standing(&device.slots[i].stale, keeps: device.slots[i].profileStaleAfter != .max)
            standing(&device.slots[i].discrete)
        }
        standing(&device.communication, keeps: true)
        var event = contextEvent(.batchEnded, device: device, wall: time.wall)
        event.user = user
        event.reason = reason
        events.append(event)
        device.batch = nil
        // Without a batch there is no running signal: the device is watched as running, and
        // what the batch suppressed by design is watched again.
        if !device.running {
            device.running = true
            for i in device.slots.indices { for kind in Self.alarmKinds { modify(device, i, kind) { $0.suppressed = false } } }
        }
        bindLimits(device)
        return events
    }

    // MARK: Evaluation

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
    private func evaluateDiscrete(
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

    private func evaluate(
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

    // MARK: Operator actions

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

    // MARK: Out of service

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

    private func outOfServiceIDs(_ device: DeviceControl) -> Set<AlarmID> {
        var ids: Set<AlarmID> = device.communication.outOfService ? [device.communication.id] : []
        for slot in device.slots {
            for record in [slot.limit, slot.rate, slot.stale, slot.discrete] where record.outOfService { ids.insert(record.id) }
        }
        return ids
    }

    private func applyOutOfService(_ device: DeviceControl) {
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

    private func serviceEvent(_ kind: ControlEvent.Kind, _ entry: OutOfServiceEntry, device: DeviceControl, wall: Date) -> ControlEvent {
        var event = contextEvent(kind, device: device, wall: wall)
        if case .alarm(let alarm) = entry.target {
            var record = AlarmRecord(id: alarm)
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

    // MARK: Internals

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

    private func switchPhase(
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

    private func setRunning(_ device: DeviceControl, _ running: Bool, at t: Int64, wall: Date, into events: inout [ControlEvent]) {
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

    private func closeExcursion(
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
    private func excursionAlarm(_ slot: Slot) -> AlarmRecord {
        slot.thresholds.isDiscrete ? slot.discrete : slot.limit
    }

    private func expireShelving(_ device: DeviceControl, at t: Int64, wall: Date, into events: inout [ControlEvent]) {
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

    private func unshelve(_ record: inout AlarmRecord, device: DeviceControl, user: String, reason: String, wall: Date)
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

    private func findDevice(_ alarm: AlarmID) throws(ControlError) -> DeviceControl {
        guard let device = devices[alarm.device] else { throw .unknownAlarm(alarm.description) }
        return device
    }

    private func modify(_ device: DeviceControl, _ alarm: AlarmID, _ change: (inout AlarmRecord) -> Void) throws(ControlError) {
        if alarm.kind == .communication {
            change(&device.communication)
            return
        }
        guard let i = device.parameterIndex[alarm.parameter] else { throw .unknownAlarm(alarm.description) }
        modify(device, i, alarm.kind, change)
    }

    private func modify(_ device: DeviceControl, _ i: Int, _ kind: AlarmKind, _ change: (inout AlarmRecord) -> Void) {
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

