extension BatchStatistics {
    /// What the statistics found in one device's part of a batch. Times are seconds since 1970.
    public struct Summary: Sendable, Hashable, Codable {
        /// The hold limit H the values were weighted with.
        public var holdLimitS: Double
        public var start: Double
        public var end: Double
        /// Phases in the order the samples ran them.
        public var phases: [PhaseSummary]
        /// Device-wide stretches without monitoring, merged where they touch and share a cause.
        public var unmonitored: [UnmonitoredInterval]
        /// Every excursion of every parameter, in the order they started.
        public var excursions: [Excursion]
        /// Per parameter, the stretches without a good value, when asked for (`stretchesPerTrack`).
        public var parameterUnmonitored: [String: [UnmonitoredInterval]] = [:]

        public func phase(_ name: String) -> PhaseSummary? { phases.first { $0.phase == name } }

        /// Unmonitored seconds of the batch (a clock step is listed but not counted).
        public var unmonitoredS: Double { unmonitored.filter(\.counts).reduce(0) { $0 + $1.durationS } }
    }

    public struct PhaseSummary: Sendable, Hashable, Codable {
        public var phase: String
        /// Time of the phase: monitored, unmonitored and held.
        public var durationS: Double
        /// One row per parameter followed, in parameter order.
        public var parameters: [ParameterSummary]

        public func parameter(_ id: String) -> ParameterSummary? { parameters.first { $0.parameter == id } }
    }

    /// One parameter in one phase, time-weighted.
    public struct ParameterSummary: Sendable, Hashable, Codable {
        public var parameter: String
        public var unit: String
        /// Samples with a good value while monitored.
        public var samples: Int
        /// For measurements: lowest, highest, arithmetic mean of the values, and the time-weighted
        /// mean and standard deviation; nil without a monitored value.
        public var min: Double?
        public var max: Double?
        public var mean: Double?
        public var timeWeightedMean: Double?
        public var standardDeviation: Double?
        /// Whether the phase's limits bound the parameter (then the zone times are set).
        public var limited: Bool
        public var monitoredS: Double
        public var unmonitoredS: Double
        public var inRangeS: Double?
        public var alertS: Double?
        public var actionS: Double?
        /// Shares of monitored time in each zone, 0...1; nil when nothing was monitored.
        public var inRangeShare: Double?
        public var alertShare: Double?
        public var actionShare: Double?
        /// Share of the phase's time this parameter was not monitored, 0...1.
        public var unmonitoredShare: Double
        /// This parameter's excursions in this phase.
        public var excursions: Int
        public var excursionS: Double
    }

    public struct Excursion: Sendable, Hashable, Codable {
        public var parameter: String
        public var phase: String
        public var start: Double
        public var end: Double
        public var durationS: Double
        /// The value furthest outside (for a flag 1 or 0; for a status 0, its label in `worstLabel`).
        public var worstValue: Double
        public var worstLabel: String?
        /// `alert` or `action`.
        public var worstLevel: String
        /// nil for a discrete condition.
        public var side: Side?
        /// Distance outside times seconds held (seconds in the condition for a discrete rule).
        public var areaOutside: Double
        /// Still outside when the batch ended: the end is the batch's.
        public var openAtBatchEnd: Bool
    }

    public struct UnmonitoredInterval: Sendable, Hashable, Codable {
        public var from: Double
        public var to: Double
        public var durationS: Double
        /// `no samples` (or what the caller names a gap), or the cause the caller gave a sample;
        /// `clock step` where the time went back.
        public var cause: String
        /// False for a clock step: the interval cannot be measured, and counts as no time.
        public var counts: Bool { cause != BatchStatistics.clockStep }
    }
}
