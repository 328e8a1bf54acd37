import Foundation
import POCareCore

/// Every loss of monitoring is an alarm, whether or not the device runs a batch: a device
/// that gives no good value for its profile's (or its batch spec's) number of polls, and a
/// measurement whose value has not changed for its stale time.
extension ControlEngine {
    /// Communication of one device: lost, how many polls have gone without a good value (polls
    /// the poller could not even make included), and since when.
    public struct CommunicationState: Sendable, Hashable {
        public var lost: Bool
        public var missedPolls: Int
        public var since: Date?
        public init(lost: Bool, missedPolls: Int, since: Date?) {
            self.lost = lost
            self.missedPolls = missedPolls
            self.since = since
        }
    }

    public func communication(of deviceId: String) -> CommunicationState? {
        guard let device = devices[deviceId] else { return nil }
        let lost = device.communication.level != .normal
        return CommunicationState(
            lost: lost, missedPolls: lost ? device.lostPolls : device.badPolls, since: lost ? device.communication.activeSince : nil)
    }

    /// Forgets a device the site no longer has (a reload removed it; it runs no batch).
    public func unregister(device deviceId: String) {
        guard devices[deviceId]?.batch == nil else { return }
        devices[deviceId] = nil
    }

    /// Takes a reloaded profile whose register map is unchanged (stale times, communication
    /// loss, priorities) without touching the batch or any alarm's state.
    public func updateMonitoring(device deviceId: String, profile: DeviceProfile) {
        guard let device = devices[deviceId], device.profile.parameters.map(\.id) == profile.parameters.map(\.id) else { return }
        device.profile = profile
        device.applyProfileMonitoring()
        bindLimits(device)
    }

    /// Counts polls without a good value (and the polls missed before this one) and raises
    /// the communication alarm after the number the batch's spec or else the profile allows.
    func watchCommunication(
        _ device: DeviceControl, good: Bool, missedPolls: UInt64, at t: Int64, wall: Date, into events: inout [ControlEvent]
    ) {
        if good {
            device.badPolls = 0
        } else {
            device.badPolls += 1 + Int(clamping: missedPolls)
            device.lostPolls = device.badPolls
        }
        let lost = device.badPolls >= device.communicationLossPolls
        guard let transition = device.communication.step(
            toward: lost ? .alert : .normal, side: .low, at: t, wall: wall, onDelay: 0, offDelay: 0)
        else { return }
        var event = alarmEvent(
            transition.to == .normal ? .communicationRestored : .communicationLost, device.communication, device: device, wall: wall)
        event.previousLevel = transition.from
        event.priority = device.profile.monitoring.communicationPriority
        event.reason = lost
            ? "no good value for \(device.badPolls) polls" : "a good value again after \(device.lostPolls) polls without one"
        events.append(event)
    }

    /// A measurement that has not changed at all for its stale time raises its stale alarm at
    /// once; the first different value clears it. Timed from the last change of the value,
    /// across batches; a failed read neither changes nor restarts it. While a batch's running
    /// signal says the device is not running, the alarm is suppressed by design.
    func watchStale(_ device: DeviceControl, _ sample: Sample, at t: Int64, wall: Date, into events: inout [ControlEvent]) {
        for i in device.staleSlots {
            guard sample.readings[i].quality == .good, case .number(let v)? = sample.readings[i].value else { continue }
            if device.slots[i].staleValue != v {
                device.slots[i].staleValue = v
                device.slots[i].lastChange = t
            }
            guard device.running else { continue }
            let staleAfter = device.slots[i].thresholds.staleAfter
            let stale = t - device.slots[i].lastChange >= staleAfter
            device.slots[i].stale.lastValue = v
            guard let transition = device.slots[i].stale.step(
                toward: stale ? .alert : .normal, side: .low, at: t, wall: wall, onDelay: 0, offDelay: 0)
            else { continue }
            var event = transitionEvent(transition, device.slots[i].stale, device: device, wall: wall, priority: device.slots[i].stalePriority)
            event.value = v
            event.reason = stale ? "unchanged for \(Duration.nanoseconds(t - device.slots[i].lastChange)) (stale after \(Duration.nanoseconds(staleAfter)))" : nil
            events.append(event)
        }
    }

    /// The batch on `device` stops following the phase the device reports: from now on only
    /// an operator moves it. Recorded as a `phase_follow_stopped` event with who and why.
    public func stopFollowingDevicePhase(device deviceId: String, user: String, reason: String, at time: Timestamp)
        throws(ControlError) -> [ControlEvent]
    {
        guard let device = devices[deviceId] else { throw .unknownDevice(deviceId) }
        guard let batch = device.batch else { throw .noBatch(device: deviceId) }
        guard case .device = batch.phaseSource else { return [] }
        device.batch?.phaseSource = .manual
        device.phaseIndex = nil
        var event = contextEvent(.phaseFollowStopped, device: device, wall: time.wall)
        event.user = user
        event.reason = reason
        return [event]
    }
}
