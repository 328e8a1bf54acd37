import POCareCore

extension BatchStatistics {
    /// Where a value lies against the limits of its phase.
    public enum Zone: Sendable, Hashable {
        /// Inside the innermost range (or a discrete condition that does not hold).
        case inRange
        /// Outside the innermost range but within the action limits (or a discrete condition at alert level).
        case alert
        /// Beyond an action limit (or a discrete condition at action level).
        case action
        /// The phase does not limit the parameter, or the value is of another kind than its rule.
        case unlimited

        public var isOutside: Bool { self == .alert || self == .action }
    }

    /// Which side of the range a value lies on; nil for a discrete condition.
    public enum Side: String, Sendable, Codable, Hashable { case low, high }

    /// Whether the limits bound the parameter at all: a range limit or a discrete rule (a
    /// rate or stale time alone bounds no value).
    public static func bounds(_ limits: ParameterLimits?) -> Bool {
        guard let l = limits else { return false }
        return l.discrete != nil || l.alertLow != nil || l.alertHigh != nil || l.actionLow != nil || l.actionHigh != nil
    }

    /// The zone of a value; values exactly on a limit are inside.
    public static func zone(_ value: Observed, _ limits: ParameterLimits?) -> Zone {
        guard let l = limits, bounds(l) else { return .unlimited }
        switch (l.discrete, value) {
        case (.flag(let alarmWhen)?, .flag(let flag)):
            return flag == alarmWhen ? level(l) : .inRange
        case (.labels(let labels)?, .label(let label)):
            return labels.contains(label) ? level(l) : .inRange
        case (.some, _):
            // A status code without a label, or a value of another kind: not the rule's condition.
            return .inRange
        case (nil, .number(let v)):
            if let low = l.actionLow, v < low { return .action }
            if let high = l.actionHigh, v > high { return .action }
            if let low = l.alertLow, v < low { return .alert }
            if let high = l.alertHigh, v > high { return .alert }
            return .inRange
        case (nil, _):
            return .unlimited
        }
    }

    /// How far a number lies outside the innermost range, and on which side; nil inside.
    public static func outside(_ v: Double, _ limits: ParameterLimits) -> (distance: Double, side: Side)? {
        if let low = limits.alertLow ?? limits.actionLow, v < low { return (low - v, .low) }
        if let high = limits.alertHigh ?? limits.actionHigh, v > high { return (v - high, .high) }
        return nil
    }

    private static func level(_ l: ParameterLimits) -> Zone { l.discreteLevel == .action ? .action : .alert }
}
