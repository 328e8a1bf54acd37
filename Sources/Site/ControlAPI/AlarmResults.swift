import Foundation

// What the alarm commands answer: the alarm list, history and the result of an action.

public struct AlarmList: Codable, Sendable, Hashable {
    public struct Alarm: Codable, Sendable, Hashable {
        public var alarm: String
        public var state: String
        public var level: String
        public var side: String
        public var priority: String
        public var since: String?
        public var shelvedUntil: String?
        public var value: Double?
        /// Who acknowledged the activation that stands.
        public var acknowledgedBy: String?
        /// The condition has returned but the alarm is latched until reset.
        public var latched: Bool?
        /// Set while the alarm (or its device) is out of service.
        public var outOfService: OutOfServiceItem?
        /// For a discrete alarm on an enumerated status: the label last reported.
        public var label: String?
        /// Owed an acknowledgement, whatever the state (a latched alarm can be unacknowledged too).
        public var unacknowledged: Bool?
        public init(alarm: String, state: String, level: String, side: String, priority: String, since: String?, shelvedUntil: String?, value: Double?,
                    acknowledgedBy: String? = nil, latched: Bool? = nil, outOfService: OutOfServiceItem? = nil, label: String? = nil,
                    unacknowledged: Bool? = nil) {
            self.label = label
            self.unacknowledged = unacknowledged
            self.acknowledgedBy = acknowledgedBy
            self.latched = latched
            self.outOfService = outOfService
            self.alarm = alarm
            self.state = state
            self.level = level
            self.side = side
            self.priority = priority
            self.since = since
            self.shelvedUntil = shelvedUntil
            self.value = value
        }
    }
    /// An alarm on its way up, waiting out its on-delay.
    public struct Pending: Codable, Sendable, Hashable {
        public var alarm: String
        public var level: String
        public var priority: String
        public var since: String
        /// Seconds of on-delay left at the device's latest sample.
        public var remainingS: Double
        public var value: Double?
        public init(alarm: String, level: String, priority: String, since: String, remainingS: Double, value: Double?) {
            self.alarm = alarm
            self.level = level
            self.priority = priority
            self.since = since
            self.remainingS = remainingS
            self.value = value
        }
    }
    public var alarms: [Alarm]
    public var pending: [Pending]?
    public var outOfService: [OutOfServiceItem]?
    public init(alarms: [Alarm], pending: [Pending]? = nil, outOfService: [OutOfServiceItem]? = nil) {
        self.alarms = alarms
        self.pending = pending
        self.outOfService = outOfService
    }
}

/// An alarm or a device out of service: by whom, why, since when.
public struct OutOfServiceItem: Codable, Sendable, Hashable {
    /// An alarm id, or a device id for all of its alarms.
    public var target: String
    public var user: String
    public var reason: String
    public var since: String
    public init(target: String, user: String, reason: String, since: String) {
        self.target = target
        self.user = user
        self.reason = reason
        self.since = since
    }
}

public struct AlarmHistory: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var time: String
        public var device: String
        public var kind: String
        public var alarm: String
        public var level: String?
        public var value: Double?
        public var limit: Double?
        public var user: String?
        public var reason: String?
        public init(time: String, device: String, kind: String, alarm: String, level: String?, value: Double?, limit: Double?, user: String?, reason: String?) {
            self.time = time
            self.device = device
            self.kind = kind
            self.alarm = alarm
            self.level = level
            self.value = value
            self.limit = limit
            self.user = user
            self.reason = reason
        }
    }
    public var history: [Entry]
    public init(history: [Entry]) { self.history = history }
}

public struct AlarmActionResult: Codable, Sendable, Hashable {
    public var alarm: String
    /// The alarm's state after the action.
    public var state: String
    /// Who did it, from the socket's peer credentials.
    public var user: String
    /// What else happened to the action's effect at once (an acknowledged alarm that had cleared).
    public var note: String?
    public init(alarm: String, state: String, user: String, note: String? = nil) {
        self.alarm = alarm
        self.state = state
        self.user = user
        self.note = note
    }
}
