import POCareCore

/// One parameter's limits as plain numbers (absent limits are infinite), built once per phase
/// so that evaluating a sample copies no strings and unwraps no optionals.
struct Thresholds {
    var alertLow = -Double.infinity
    var alertHigh = Double.infinity
    var actionLow = -Double.infinity
    var actionHigh = Double.infinity
    /// Innermost range, for the distance outside it (excursion areas).
    var innerLow = -Double.infinity
    var innerHigh = Double.infinity
    var deadband = 0.0
    var maxRatePerMinute = Double.infinity
    var onDelay: Int64 = 0
    var offDelay: Int64 = 0
    var staleAfter: Int64 = .max
    var priority = AlarmPriority.medium
    var hasRange = false
    /// A discrete rule: on a flag (`alarmWhen`) or on a status's labels (kept in the slot, so
    /// that this struct stays plain numbers and flags).
    var isDiscrete = false
    var matchesLabels = false
    var alarmWhen = true
    var discreteLevel = AlarmLevel.alert

    init() {}

    init(_ l: ParameterLimits) {
        alertLow = l.alertLow ?? -.infinity
        alertHigh = l.alertHigh ?? .infinity
        actionLow = l.actionLow ?? -.infinity
        actionHigh = l.actionHigh ?? .infinity
        innerLow = l.alertLow ?? l.actionLow ?? -.infinity
        innerHigh = l.alertHigh ?? l.actionHigh ?? .infinity
        deadband = l.deadband
        maxRatePerMinute = l.maxRatePerMinute ?? .infinity
        onDelay = l.onDelay.nanoseconds
        offDelay = l.offDelay.nanoseconds
        staleAfter = l.staleAfter?.nanoseconds ?? .max
        priority = l.priority
        hasRange = [l.alertLow, l.alertHigh, l.actionLow, l.actionHigh].contains { $0 != nil }
        switch l.discrete {
        case .flag(let when)?:
            isDiscrete = true
            alarmWhen = when
        case .labels?:
            isDiscrete = true
            matchesLabels = true
        case nil:
            break
        }
        discreteLevel = l.discreteLevel == .action ? .action : .alert
    }

    /// The level a value calls for, with the deadband applied to the levels the alarm stands at.
    @inline(__always)
    func level(_ v: Double, standing: AlarmLevel, side: AlarmSide) -> (AlarmLevel, AlarmSide) {
        let highBand = side == .high ? deadband : 0
        let lowBand = side == .low ? deadband : 0
        let actionBand = standing >= .action
        let alertBand = standing >= .alert
        if v > actionHigh - (actionBand ? highBand : 0) { return (.action, .high) }
        if v < actionLow + (actionBand ? lowBand : 0) { return (.action, .low) }
        if v > alertHigh - (alertBand ? highBand : 0) { return (.alert, .high) }
        if v < alertLow + (alertBand ? lowBand : 0) { return (.alert, .low) }
        return (.normal, side)
    }

    /// How far outside the innermost range a value lies (0 inside).
    @inline(__always)
    func distanceOutside(_ v: Double) -> (Double, AlarmSide) {
        if v > innerHigh { return (v - innerHigh, .high) }
        if v < innerLow { return (innerLow - v, .low) }
        return (0, .high)
    }

    func limit(level: AlarmLevel, side: AlarmSide) -> Double? {
        let value: Double = switch (level, side) {
        case (.action, .high): actionHigh
        case (.action, .low): actionLow
        case (.alert, .high): alertHigh
        case (.alert, .low): alertLow
        default: .nan
        }
        return value.isFinite ? value : nil
    }
}
