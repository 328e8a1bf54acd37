/// How urgently an operator must respond (ISA-18.2 priority).
public enum AlarmPriority: String, Sendable, Hashable, CaseIterable, Codable {
    case low, medium, high, critical
}

/// What makes a discrete alarm stand: a flag in a given state, or a status among given labels.
public enum DiscreteCondition: Sendable, Hashable {
    /// A `bool` or `bitN` parameter: the alarm stands while the flag equals this value.
    case flag(alarmWhen: Bool)
    /// An enumerated parameter: the alarm stands while its label is one of these.
    case labels([String])
}

/// The approved limits for one parameter in one phase of a process.
///
/// Ranges nest: action low <= alert low < alert high <= action high. Either side may be
/// absent (dissolved oxygen usually has only a lower limit).
public struct ParameterLimits: Sendable, Hashable {
    public var parameterId: String
    /// The unit the limits are written in; must match the device profiles.
    public var unit: String
    public var target: Double?
    public var alertLow: Double?
    public var alertHigh: Double?
    public var actionLow: Double?
    public var actionHigh: Double?
    /// Largest allowed change per minute, in the parameter's unit.
    public var maxRatePerMinute: Double?
    /// How long a value must stay out of range before the alarm stands.
    public var onDelay: Duration
    /// How long a value must stay back in range before the alarm clears.
    public var offDelay: Duration
    /// Hysteresis: to return, a value must come back inside a limit by this much.
    public var deadband: Double
    public var priority: AlarmPriority
    /// A value that has not changed at all for this long is stale (a frozen sensor).
    public var staleAfter: Duration?
    /// For a flag or a status: the condition that raises the parameter's discrete alarm.
    public var discrete: DiscreteCondition?
    /// The level a discrete alarm stands at (alert or action).
    public var discreteLevel: DiscreteLevel
    /// The parameter's alarms stay active after the condition clears, until an operator resets them.
    public var latch: Bool

    public enum DiscreteLevel: String, Sendable, Hashable { case alert, action }

    public init(
        parameterId: String, unit: String = "", target: Double? = nil, alertLow: Double? = nil, alertHigh: Double? = nil,
        actionLow: Double? = nil, actionHigh: Double? = nil, maxRatePerMinute: Double? = nil,
        onDelay: Duration = .zero, offDelay: Duration = .zero, deadband: Double = 0,
        priority: AlarmPriority = .medium, staleAfter: Duration? = nil, discrete: DiscreteCondition? = nil,
        discreteLevel: DiscreteLevel = .alert, latch: Bool = false
    ) {
        self.parameterId = parameterId
        self.unit = unit
        self.target = target
        self.alertLow = alertLow
        self.alertHigh = alertHigh
        self.actionLow = actionLow
        self.actionHigh = actionHigh
        self.maxRatePerMinute = maxRatePerMinute
        self.onDelay = onDelay
        self.offDelay = offDelay
        self.deadband = deadband
        self.priority = priority
        self.staleAfter = staleAfter
        self.discrete = discrete
        self.discreteLevel = discreteLevel
        self.latch = latch
    }
}

/// The limits in force during one process phase.
public struct PhaseLimits: Sendable, Hashable {
    public var phase: String
    public var limits: [ParameterLimits]

    public init(phase: String, limits: [ParameterLimits]) {
        self.phase = phase
        self.limits = limits
    }

    public func limits(for parameterId: String) -> ParameterLimits? {
        limits.first { $0.parameterId == parameterId }
    }
}

/// Who approved the spec and under which document and change control.
public struct SpecIdentity: Sendable, Hashable {
    public var product: String
    public var process: String
    public var documentId: String
    public var version: String
    public var approvedBy: String
    /// ISO 8601 calendar date, as written on the approved document.
    public var approvalDate: String
    public var changeControl: String
    /// Ids of the device profiles the spec was written for.
    public var profiles: [String]

    public init(
        product: String, process: String, documentId: String, version: String, approvedBy: String,
        approvalDate: String, changeControl: String, profiles: [String]
    ) {
        self.product = product
        self.process = process
        self.documentId = documentId
        self.version = version
        self.approvedBy = approvedBy
        self.approvalDate = approvalDate
        self.changeControl = changeControl
        self.profiles = profiles
    }
}

/// Which parameter says the device is running; while it is not, alarms are suppressed by design.
public struct RunningSignal: Sendable, Hashable {
    public var parameterId: String
    /// For an enumerated status: the labels that mean running. Empty for a bool or bit (true means running).
    public var labels: [String]

    public init(parameterId: String, labels: [String] = []) {
        self.parameterId = parameterId
        self.labels = labels
    }
}

/// An approved in-process control specification: the same file, and so the same fingerprint,
/// at every site that makes the product.
public struct IPCSpec: Sendable, Hashable {
    public var identity: SpecIdentity
    /// Phases in process order.
    public var phases: [PhaseLimits]
    /// Polls in a row without a single good value before communication counts as lost.
    public var communicationLossPolls: Int
    public var running: RunningSignal?
    /// Per phase, the progress variable comparisons align trajectories by (`comparability:`).
    public var alignments: [SpecAlignment] = []
    /// `sha256:` and the hex SHA-256 of the spec's canonical form.
    public var fingerprint: String
    /// The canonical form the fingerprint hashes (empty for a spec not read from a file).
    public var canonicalForm = ""
    /// The file's text as it was read, kept with every batch record that ran under the spec.
    public var source = ""

    public init(
        identity: SpecIdentity, phases: [PhaseLimits], communicationLossPolls: Int, running: RunningSignal?,
        fingerprint: String
    ) {
        self.identity = identity
        self.phases = phases
        self.communicationLossPolls = communicationLossPolls
        self.running = running
        self.fingerprint = fingerprint
    }

    public func phase(_ name: String) -> PhaseLimits? { phases.first { $0.phase == name } }

    /// The first 12 hex digits, enough for a person to compare at a glance.
    public var shortFingerprint: String {
        String(fingerprint.dropFirst("sha256:".count).prefix(12))
    }
}
