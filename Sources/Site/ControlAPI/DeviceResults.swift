import Foundation

// What `devices` and `values` answer.

public struct DeviceList: Codable, Sendable, Hashable {
    public struct Device: Codable, Sendable, Hashable {
        public var id: String
        public var profile: String
        public var endpoint: String
        public var unitId: Int
        public var pollIntervalS: Double
        public var connected: Bool
        public var cycles: UInt64
        public var missedCycles: UInt64
        public var batch: String?
        public var phase: String?
        public init(id: String, profile: String, endpoint: String, unitId: Int, pollIntervalS: Double, connected: Bool, cycles: UInt64,
                    missedCycles: UInt64, batch: String?, phase: String?) {
            self.id = id
            self.profile = profile
            self.endpoint = endpoint
            self.unitId = unitId
            self.pollIntervalS = pollIntervalS
            self.connected = connected
            self.cycles = cycles
            self.missedCycles = missedCycles
            self.batch = batch
            self.phase = phase
        }
    }
    public var devices: [Device]
    public init(devices: [Device]) { self.devices = devices }
}

/// A parameter's value: a number, a flag or a text, as JSON number, boolean or string.
public enum ParameterValue: Codable, Sendable, Hashable {
    case number(Double)
    case flag(Bool)
    case text(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Each JSON type is tried in turn; a value that is none of them fails below with its own error.
        if let b = try? c.decode(Bool.self) {
            self = .flag(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else {
            self = .text(try c.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): try c.encode(n)
        case .flag(let b): try c.encode(b)
        case .text(let t): try c.encode(t)
        }
    }
}

public struct Limits: Codable, Sendable, Hashable {
    public var alertLow: Double?
    public var alertHigh: Double?
    public var actionLow: Double?
    public var actionHigh: Double?
    public var target: Double?
    /// For a flag with a discrete alarm: the value that raises it.
    public var alarmWhen: Bool?
    /// For a status with a discrete alarm: the labels that raise it.
    public var alarmLabels: [String]?
    public init(alertLow: Double?, alertHigh: Double?, actionLow: Double?, actionHigh: Double?, target: Double?,
                alarmWhen: Bool? = nil, alarmLabels: [String]? = nil) {
        self.alarmWhen = alarmWhen
        self.alarmLabels = alarmLabels
        self.alertLow = alertLow
        self.alertHigh = alertHigh
        self.actionLow = actionLow
        self.actionHigh = actionHigh
        self.target = target
    }
}

public struct DeviceValues: Codable, Sendable, Hashable {
    public struct Row: Codable, Sendable, Hashable {
        public var parameter: String
        public var name: String
        public var unit: String
        public var quality: String
        public var value: ParameterValue?
        /// The enumeration's label, for state parameters.
        public var label: String?
        /// The limits of the phase in force, when a batch runs and the spec limits this parameter.
        public var limits: Limits?
        public init(parameter: String, name: String, unit: String, quality: String, value: ParameterValue?, label: String?, limits: Limits?) {
            self.parameter = parameter
            self.name = name
            self.unit = unit
            self.quality = quality
            self.value = value
            self.label = label
            self.limits = limits
        }
    }
    public var device: String
    /// The last sample's time; nil before the first poll.
    public var time: String?
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var values: [Row]
    public init(device: String, time: String?, batch: String?, phase: String?, spec: String?, values: [Row]) {
        self.device = device
        self.time = time
        self.batch = batch
        self.phase = phase
        self.spec = spec
        self.values = values
    }
}
