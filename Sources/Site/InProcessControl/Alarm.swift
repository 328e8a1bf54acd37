import Foundation
import POCareCore

/// What an alarm watches.
public enum AlarmKind: String, Sendable, Hashable, CaseIterable {
    /// The value against its alert and action ranges.
    case limit
    /// The value's change per minute against its rate limit.
    case rate
    /// The value has not changed for longer than it should.
    case stale
    /// No good value from the device for N polls in a row.
    case communication
    /// A flag in its alarm state, or a status showing one of the labels that mean trouble.
    case discrete
}

/// How far out of range: alert is the inner range, action the outer one.
public enum AlarmLevel: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
    case normal = 0, alert = 1, action = 2
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["normal", "alert", "action"][rawValue] }
}

public enum AlarmSide: String, Sendable, Hashable { case low, high }

/// The ISA-18.2 alarm states an operator sees.
public enum AlarmState: String, Sendable, Hashable {
    case normal
    case unacknowledged = "active_unacknowledged"
    case acknowledged = "active_acknowledged"
    case returnedUnacknowledged = "returned_unacknowledged"
    case shelved
    case suppressed = "suppressed_by_design"
    /// The condition has returned, but a latching rule holds the alarm active until an
    /// operator resets it.
    case latched
    /// Taken out of service for maintenance: still evaluated and recorded, not annunciated.
    case outOfService = "out_of_service"
}

/// Names one alarm: `device/parameter/kind`, or `device/communication`.
public struct AlarmID: Sendable, Hashable, CustomStringConvertible, Comparable {
    public var device: String
    public var parameter: String
    public var kind: AlarmKind

    public init(device: String, parameter: String, kind: AlarmKind) {
        self.device = device
        self.parameter = parameter
        self.kind = kind
    }

    public static func communication(_ device: String) -> AlarmID {
        AlarmID(device: device, parameter: "", kind: .communication)
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, parts[1] == AlarmKind.communication.rawValue {
            self = .communication(parts[0])
        } else if parts.count == 3, let kind = AlarmKind(rawValue: parts[2]), kind != .communication,
            !parts[0].isEmpty, !parts[1].isEmpty
        {
            self.init(device: parts[0], parameter: parts[1], kind: kind)
        } else {
            return nil
        }
    }

    public var description: String {
        kind == .communication ? "\(device)/communication" : "\(device)/\(parameter)/\(kind.rawValue)"
    }

    public static func < (a: Self, b: Self) -> Bool { a.description < b.description }
}

/// One alarm as an operator or a report sees it now.
public struct AlarmSnapshot: Sendable, Hashable {
    public var id: AlarmID
    public var state: AlarmState
    public var level: AlarmLevel
    public var side: AlarmSide
    public var priority: AlarmPriority
    public var activeSince: Date?
    public var shelvedUntil: Date?
    public var lastValue: Double?
    /// Who acknowledged the activation now standing (nil while unacknowledged or normal).
    public var acknowledgedBy: String?
    /// The condition returned but the alarm is held until an operator resets it.
    public var latched: Bool = false
    /// Set while the alarm (or its device) is out of service.
    public var outOfService: OutOfServiceEntry?
    /// For a discrete alarm on an enumerated status: the label last reported.
    public var lastLabel: String?

    /// An activation no operator has acknowledged yet (also while latched or returned).
    public var unacknowledged: Bool = false

    /// Active: the condition stands, or a latch holds it.
    public var isActive: Bool { level != .normal || latched }
}

/// An alarm on its way up that has not yet held its condition for the on-delay.
public struct PendingAlarm: Sendable, Hashable {
    public var id: AlarmID
    /// The level it will stand at once the on-delay has passed.
    public var level: AlarmLevel
    public var side: AlarmSide
    public var priority: AlarmPriority
    /// Since when the value has called for the level (UTC, from the samples).
    public var since: Date
    /// What is left of the on-delay at the device's latest sample.
    public var remaining: Duration
    public var lastValue: Double?
}

/// What is out of service: one alarm, or every alarm of a device.
public enum OutOfServiceTarget: Sendable, Hashable, CustomStringConvertible {
    case alarm(AlarmID)
    case device(String)

    /// `device/parameter/kind` or `device/communication` for an alarm, a bare id for a device.
    public init?(_ text: String) {
        if text.contains("/") {
            guard let alarm = AlarmID(text) else { return nil }
            self = .alarm(alarm)
        } else {
            guard !text.isEmpty else { return nil }
            self = .device(text)
        }
    }

    public var device: String {
        switch self {
        case .alarm(let a): a.device
        case .device(let d): d
        }
    }

    public var description: String {
        switch self {
        case .alarm(let a): a.description
        case .device(let d): d
        }
    }
}

/// An alarm or device taken out of service: by whom, why and since when. Listed until returned.
public struct OutOfServiceEntry: Sendable, Hashable {
    public var target: OutOfServiceTarget
    public var user: String
    public var reason: String
    public var since: Date

    public init(target: OutOfServiceTarget, user: String, reason: String, since: Date) {
        self.target = target
        self.user = user
        self.reason = reason
        self.since = since
    }
}

/// One out-of-range period of one parameter, for the batch record.
public struct ExcursionRecord: Sendable, Hashable {
    public var alarm: AlarmID
    public var batchId: String
    public var phase: String
    public var specFingerprint: String
    public var start: Date
    public var end: Date
    public var duration: Duration
    /// The value furthest outside the range.
    public var worstValue: Double
    public var worstLevel: AlarmLevel
    public var side: AlarmSide
    /// Time-weighted distance outside the alert range (or the action range where there is no
    /// alert range), in the parameter's unit times seconds (trapezoidal rule over samples).
    public var areaOutside: Double
    /// The excursion still stood when its batch ended: `end` and `duration` are as far as it
    /// had gone, not a return to range.
    public var openAtBatchEnd = false
}
