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
    var devices: [String: DeviceControl] = [:]
    /// Alarms and devices out of service, until an operator returns them. Kept apart from
    /// the alarm records so that the list can be saved and restored as it is.
    var outOfServiceEntries: [OutOfServiceTarget: OutOfServiceEntry] = [:]
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
}
