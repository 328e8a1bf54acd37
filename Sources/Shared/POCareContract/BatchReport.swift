import Foundation

/// The batch IPC record for QP review: everything a qualified person needs to judge one batch's
/// in-process controls, read from the store as recorded, never from what is loaded now. Times
/// are UTC ISO 8601; durations in seconds; shares in percent. docs/ipc-specs.md describes each
/// section as a reviewer reads it.
public struct BatchReport: Codable, Sendable, Hashable {
    /// Who approved the spec the batch ran under, and its fingerprint.
    public struct SpecIdentity: Codable, Sendable, Hashable {
        public var fingerprint: String
        public var document: String?
        public var version: String?
        public var product: String?
        public var process: String?
        public var approvedBy: String?
        public var approvalDate: String?
        public var changeControl: String?
        public init(fingerprint: String) { self.fingerprint = fingerprint }
    }

    /// Which unit made the batch.
    public struct Equipment: Codable, Sendable, Hashable {
        public var device: String
        public var profile: String?
        /// SHA-256 of the profile's canonical description: the register map the values were read with.
        public var profileFingerprint: String?
        public var vendor: String?
        public var model: String?
        /// As the device reported them during the batch, where the profile maps them.
        public var serialNumber: String?
        public var firmwareVersion: String?
        public init(device: String) { self.device = device }
    }

    /// A start or end: when, by whom, why.
    public struct Transition: Codable, Sendable, Hashable {
        public var time: String
        public var by: String?
        public var reason: String?
        public init(time: String, by: String?, reason: String?) {
            self.time = time
            self.by = by
            self.reason = reason
        }
    }

    public struct PhasePeriod: Codable, Sendable, Hashable {
        public var phase: String
        public var from: String
        public var to: String?
        public var by: String?
        public var reason: String?
        public init(phase: String, from: String, to: String?, by: String?, reason: String?) {
            self.phase = phase
            self.from = from
            self.to = to
            self.by = by
            self.reason = reason
        }
    }

    /// One parameter in one phase. Times are weighted by the time between samples; shares of
    /// range, alert and action are of the monitored time, and the unmonitored share is of the
    /// phase's whole time, so a phase with gaps never reads as a clean 100 %.
    public struct ParameterSummary: Codable, Sendable, Hashable {
        public var parameter: String
        public var unit: String
        public var samples: Int
        /// Statistics, for continuous measurements only (not states, flags or status words).
        public var min: Double?
        public var max: Double?
        public var mean: Double?
        public var timeWeightedMean: Double?
        public var standardDeviation: Double?
        /// Set when the spec limits the parameter in this phase.
        public var limited: Bool
        public var monitoredS: Double
        public var unmonitoredS: Double
        public var inRangeS: Double?
        public var alertS: Double?
        public var actionS: Double?
        public var inRangePct: Double?
        public var alertPct: Double?
        public var actionPct: Double?
        public var unmonitoredPct: Double
        public init(parameter: String, unit: String) {
            self.parameter = parameter
            self.unit = unit
            self.samples = 0
            self.limited = false
            self.monitoredS = 0
            self.unmonitoredS = 0
            self.unmonitoredPct = 0
        }
    }

    public struct Phase: Codable, Sendable, Hashable {
        public var phase: String
        public var durationS: Double
        public var parameters: [ParameterSummary]
        public init(phase: String, durationS: Double, parameters: [ParameterSummary]) {
            self.phase = phase
            self.durationS = durationS
            self.parameters = parameters
        }
    }

    /// Time in the batch when the device's values could not be held to the spec.
    public struct UnmonitoredInterval: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        public var durationS: Double
        /// `no samples` (the daemon was down or the device not polled), `device unreachable`,
        /// `device fault`, `device not running`, `clock step`.
        public var cause: String
        public init(from: String, to: String, durationS: Double, cause: String) {
            self.from = from
            self.to = to
            self.durationS = durationS
            self.cause = cause
        }
    }

    /// The time a value was outside its limits (docs/ipc-specs.md, "Excursions"): from the first
    /// sample outside to where the values stopped being outside, whatever the alarm's delays.
    public struct Excursion: Codable, Sendable, Hashable {
        /// `device/parameter/limit`: the parameter's limit, named as its alarm is.
        public var alarm: String
        public var parameter: String?
        public var phase: String
        public var start: String
        public var end: String
        public var durationS: Double
        public var worstValue: Double
        /// For a status in its alarm condition: the label (`worstValue` is then 0).
        public var worstLabel: String?
        public var worstLevel: String
        /// `low` or `high`; `-` for a discrete condition.
        public var side: String
        public var areaOutside: Double
        /// Still outside the range when the batch ended: the duration is as far as it had gone.
        public var openAtBatchEnd: Bool
        public init(
            alarm: String, phase: String, start: String, end: String, durationS: Double, worstValue: Double, worstLevel: String,
            side: String, areaOutside: Double, openAtBatchEnd: Bool = false
        ) {
            self.alarm = alarm
            self.phase = phase
            self.start = start
            self.end = end
            self.durationS = durationS
            self.worstValue = worstValue
            self.worstLevel = worstLevel
            self.side = side
            self.areaOutside = areaOutside
            self.openAtBatchEnd = openAtBatchEnd
        }
    }

    /// One alarm occurrence: raised, acknowledged (who, why), cleared or still open at the end.
    public struct Alarm: Codable, Sendable, Hashable {
        public var alarm: String
        public var kind: String
        public var time: String
        public var level: String?
        public var value: Double?
        public var limit: Double?
        public var phase: String?
        public var acknowledgedBy: String?
        public var acknowledgedAt: String?
        public var reason: String?
        public var cleared: String?
        public var openAtBatchEnd: Bool
        public init(
            alarm: String, kind: String, time: String, level: String?, value: Double?, limit: Double?, phase: String?,
            acknowledgedBy: String? = nil, acknowledgedAt: String? = nil, reason: String? = nil, cleared: String? = nil,
            openAtBatchEnd: Bool = false
        ) {
            self.alarm = alarm
            self.kind = kind
            self.time = time
            self.level = level
            self.value = value
            self.limit = limit
            self.phase = phase
            self.acknowledgedBy = acknowledgedBy
            self.acknowledgedAt = acknowledgedAt
            self.reason = reason
            self.cleared = cleared
            self.openAtBatchEnd = openAtBatchEnd
        }
    }

    public struct Shelve: Codable, Sendable, Hashable {
        public var alarm: String
        public var by: String?
        public var reason: String?
        public var from: String
        public var until: String?
        /// When it ended (unshelved, expired or the batch ended), and why.
        public var ended: String?
        public var endReason: String?
        public init(alarm: String, by: String?, reason: String?, from: String, until: String?) {
            self.alarm = alarm
            self.by = by
            self.reason = reason
            self.from = from
            self.until = until
        }
    }

    /// Whether the times in this record can be trusted.
    public struct ClockEvidence: Codable, Sendable, Hashable {
        public struct Event: Codable, Sendable, Hashable {
            public var time: String
            public var kind: String
            public var detail: String
            public init(time: String, kind: String, detail: String) {
                self.time = time
                self.kind = kind
                self.detail = detail
            }
        }
        /// True when the kernel reported the clock synchronised at the start and throughout,
        /// with no step; false when it did not; nil when nothing was recorded.
        public var synchronisedThroughout: Bool?
        public var events: [Event]
        public init(synchronisedThroughout: Bool?, events: [Event]) {
            self.synchronisedThroughout = synchronisedThroughout
            self.events = events
        }
    }

    public struct Gap: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        public var durationS: Double
        public init(from: String, to: String, durationS: Double) {
            self.from = from
            self.to = to
            self.durationS = durationS
        }
    }

    public var batch: String
    public var device: String
    public var spec: String
    /// The spec's document id and version.
    public var specDocument: String?
    public var specIdentity: SpecIdentity
    public var equipment: Equipment
    public var started: String
    public var ended: String?
    public var start: Transition
    public var end: Transition?
    /// The starting material named at batch start, where the batch is one of a split source.
    public var startingMaterial: String? = nil
    public var samples: Int
    public var badReadings: Int
    public var phaseTimeline: [PhasePeriod] = []
    public var phases: [Phase] = []
    public var unmonitored: [UnmonitoredInterval] = []
    public var unmonitoredS: Double = 0
    /// How long a sample's values hold at most (three median sampling intervals, at least 2 s).
    public var holdLimitS: Double?
    public var excursions: [Excursion] = []
    public var alarms: [Alarm] = []
    public var shelves: [Shelve] = []
    public var clock: ClockEvidence = ClockEvidence(synchronisedThroughout: nil, events: [])
    /// Gaps between samples longer than three poll intervals (also in `unmonitored`).
    public var gaps: [Gap] = []
    /// Out-of-service intervals and latch resets during the batch (`AlarmService`, defined
    /// with the alarm commands' results).
    public var alarmService: AlarmService? = nil
    /// Whether the Control Site had released the spec when the batch started, and whether it was
    /// retired while the batch ran (`SpecRelease`, beside the spec register's types).
    public var specRelease: SpecRelease? = nil

    public init(batch: String, device: String, spec: String, started: String, ended: String?) {
        self.batch = batch
        self.device = device
        self.spec = spec
        self.specIdentity = SpecIdentity(fingerprint: spec)
        self.equipment = Equipment(device: device)
        self.started = started
        self.ended = ended
        self.start = Transition(time: started, by: nil, reason: nil)
        self.samples = 0
        self.badReadings = 0
    }
}

// MARK: batch report: out of service and latched alarms

extension BatchReport {
    /// An alarm or device out of service during the batch: who took it out and why, who
    /// returned it and why; `to` is nil while it is still out of service.
    public struct OutOfServiceInterval: Codable, Sendable, Hashable {
        public var target: String
        public var from: String
        public var to: String?
        public var takenBy: String?
        public var reason: String?
        public var returnedBy: String?
        public var returnReason: String?
        public init(target: String, from: String, to: String?, takenBy: String?, reason: String?, returnedBy: String?, returnReason: String?) {
            self.target = target
            self.from = from
            self.to = to
            self.takenBy = takenBy
            self.reason = reason
            self.returnedBy = returnedBy
            self.returnReason = returnReason
        }
    }

    /// An operator's (or the batch end's) release of a latched alarm.
    public struct LatchReset: Codable, Sendable, Hashable {
        public var alarm: String
        public var time: String
        public var user: String
        public var reason: String
        public init(alarm: String, time: String, user: String, reason: String) {
            self.alarm = alarm
            self.time = time
            self.user = user
            self.reason = reason
        }
    }

    public struct AlarmService: Codable, Sendable, Hashable {
        public var outOfService: [OutOfServiceInterval]
        public var latchResets: [LatchReset]
        /// Alarms that latched during the batch (their condition returned while they were held).
        public var latchedAlarms: [String]
        public init(outOfService: [OutOfServiceInterval], latchResets: [LatchReset], latchedAlarms: [String]) {
            self.outOfService = outOfService
            self.latchResets = latchResets
            self.latchedAlarms = latchedAlarms
        }
    }
}
