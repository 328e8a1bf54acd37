import Foundation
import POCareCore

/// The state machine of one alarm: a standing level that moves only after the value has
/// stayed on the other side for the on-delay (going up) or off-delay (coming back), plus the
/// operator's acknowledgement and shelving.
struct AlarmRecord {
    let id: AlarmID
    var level: AlarmLevel = .normal
    var side: AlarmSide = .high
    var unacknowledged = false
    var suppressed = false
    var shelvedUntil: Int64?
    var shelvedUntilWall: Date?
    var activeSince: Date?
    var lastValue: Double?
    /// For a discrete alarm on a status: the label last reported.
    var lastLabel: String?
    /// The rule latches: when the condition returns, the alarm stays until reset.
    var latches = false
    /// The condition has returned and the latch holds the alarm.
    var latched = false
    var outOfService = false
    var acknowledgedBy: String?
    /// Monotonic time of the latest evaluation, for the on-delay left of a pending alarm.
    var lastStep: Int64 = 0
    var lastWall = Date(timeIntervalSince1970: 0)
    /// Since when the value has continuously called for at least alert / at least action
    /// (going up), and for at most normal / at most alert (coming back).
    var atLeastSince: (alert: Int64?, action: Int64?) = (nil, nil)
    var atMostSince: (normal: Int64?, alert: Int64?) = (nil, nil)

    init(id: AlarmID) { self.id = id }

    var state: AlarmState {
        // Maintenance outranks everything: an alarm out of service is not annunciated at all.
        if outOfService { return .outOfService }
        if suppressed { return .suppressed }
        if shelvedUntil != nil { return .shelved }
        if level != .normal { return unacknowledged ? .unacknowledged : .acknowledged }
        if latched { return .latched }
        return unacknowledged ? .returnedUnacknowledged : .normal
    }

    /// True while the value is on its way to a higher level but has not held it for the on-delay.
    var isPendingUp: Bool {
        (atLeastSince.alert != nil && level < .alert) || (atLeastSince.action != nil && level < .action)
    }

    struct Transition {
        var from: AlarmLevel
        var to: AlarmLevel
        var side: AlarmSide
    }

    /// Feeds the level the latest value calls for. The standing level rises to the highest
    /// level the value has called for throughout the on-delay, and falls to the lowest level
    /// it has stayed at or below throughout the off-delay: a value that drops from action into
    /// the alert range de-escalates after the off-delay, one that drops straight into range
    /// clears after the off-delay, and one that dips in and out again does neither.
    mutating func step(toward target: AlarmLevel, side targetSide: AlarmSide, at time: Int64, wall: Date,
                       onDelay: Int64, offDelay: Int64) -> Transition?
    {
        lastStep = time
        lastWall = wall
        // The common case at a site: in range and standing normal. Nothing to time.
        if target == .normal && level == .normal {
            atLeastSince = (nil, nil)
            return nil
        }
        atLeastSince.alert = target >= .alert ? (atLeastSince.alert ?? time) : nil
        atLeastSince.action = target >= .action ? (atLeastSince.action ?? time) : nil
        atMostSince.normal = target <= .normal ? (atMostSince.normal ?? time) : nil
        atMostSince.alert = target <= .alert ? (atMostSince.alert ?? time) : nil
        func held(_ since: Int64?, _ delay: Int64) -> Bool { since.map { time - $0 >= delay } ?? false }

        var next = level
        if level < .action && held(atLeastSince.action, onDelay) {
            next = .action
        } else if level < .alert && held(atLeastSince.alert, onDelay) {
            next = .alert
        } else if level > .normal && held(atMostSince.normal, offDelay) {
            next = .normal
        } else if level > .alert && held(atMostSince.alert, offDelay) {
            next = .alert
        }
        if next == level {
            // The value crossed straight to the other side: the alarm stays, now on that side.
            if level != .normal && target != .normal && targetSide != side { side = targetSide }
            return nil
        }
        let transition = Transition(from: level, to: next, side: next == .normal ? side : targetSide)
        if level == .normal {
            activeSince = wall
            latched = false
        }
        if next > level {
            unacknowledged = true
            acknowledgedBy = nil
        }
        if next == .normal && latches { latched = true }
        level = next
        side = transition.side
        // A returned alarm still owed an acknowledgement keeps the time it went active.
        if next == .normal && !latched && !unacknowledged { activeSince = nil }
        return transition
    }

    /// Returns to normal without a transition event, for suppression by design. A latch is
    /// kept: only an operator's reset (or the end of the batch) releases it.
    mutating func reset(keepingAcknowledgement: Bool = false) {
        level = .normal
        atLeastSince = (nil, nil)
        atMostSince = (nil, nil)
        if !keepingAcknowledgement { unacknowledged = false }
        if !latched && !unacknowledged { activeSince = nil }
    }

    func snapshot(priority: AlarmPriority) -> AlarmSnapshot {
        AlarmSnapshot(
            id: id, state: state, level: level, side: side, priority: priority, activeSince: activeSince,
            shelvedUntil: shelvedUntilWall, lastValue: lastValue,
            acknowledgedBy: isActiveOrLatched && !unacknowledged ? acknowledgedBy : nil, latched: latched, lastLabel: lastLabel,
            unacknowledged: unacknowledged)
    }

    var isActiveOrLatched: Bool { level != .normal || latched }

    /// The level this alarm is on its way to, with when the wait began and what is left of
    /// the on-delay at the latest evaluation; nil when nothing is pending.
    func pending(onDelay: Int64) -> (level: AlarmLevel, since: Date, remaining: Int64)? {
        guard onDelay > 0 else { return nil }
        let (target, since): (AlarmLevel, Int64?) =
            atLeastSince.action != nil && level < .action ? (.action, atLeastSince.action)
            : atLeastSince.alert != nil && level < .alert ? (.alert, atLeastSince.alert) : (.normal, nil)
        guard let since else { return nil }
        let waited = lastStep - since
        return (target, lastWall.addingTimeInterval(-Double(waited) / 1e9), max(0, onDelay - waited))
    }
}

/// Accumulates one out-of-range period: from the first sample outside the range until the
/// alarm clears. A period that ends before the alarm stands (shorter than the on-delay) is dropped.
struct ExcursionTracker {
    var open = false
    var startMono: Int64 = 0
    var startWall = Date(timeIntervalSince1970: 0)
    var lastMono: Int64 = 0
    var lastOutside = 0.0
    var worstValue = 0.0
    var worstDistance = -1.0
    var worstLevel = AlarmLevel.normal
    var side = AlarmSide.high
    var area = 0.0

    mutating func begin(at mono: Int64, wall: Date) {
        self = ExcursionTracker()
        open = true
        startMono = mono
        startWall = wall
        lastMono = mono
    }

    mutating func add(value: Double, outside: Double, side: AlarmSide, at mono: Int64) {
        let seconds = Double(mono - lastMono) / 1e9
        area += (lastOutside + outside) / 2 * seconds
        lastOutside = outside
        lastMono = mono
        if outside > worstDistance {
            worstDistance = outside
            worstValue = value
            self.side = side
        }
    }

    func record(alarm: AlarmID, batch: BatchContext, end: Date, endMono: Int64) -> ExcursionRecord {
        ExcursionRecord(
            alarm: alarm, batchId: batch.batchId, phase: batch.phase, specFingerprint: batch.spec.fingerprint,
            start: startWall, end: end, duration: .nanoseconds(max(0, endMono - startMono)), worstValue: worstValue,
            worstLevel: worstLevel, side: side, areaOutside: area)
    }
}
