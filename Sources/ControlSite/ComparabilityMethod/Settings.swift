/// The settings a comparison runs with, stated on every report so anyone can reproduce it.
/// Defaults follow the FDA's tiered approach for quality attributes (Tier 1: equivalence of means
/// within 1.5 reference SD; Tier 2: quality range, reference mean ± 3 SD; Tier 3: graphical,
/// here the reference envelope of the trajectory).
public struct MethodSettings: Sendable, Codable, Equatable {
    /// The version of the method the numbers come from; it changes whenever a formula does.
    public static let methodVersion = "pocare-comparability/3"

    /// Significance level of each one-sided test (the TOST's CI is 1 − 2α), of Hotelling's T².
    public var alpha = 0.05
    /// Tier 1 runs only where its power to show two identical sites equivalent reaches this.
    public var requiredPower = 0.8
    /// The reference is established with at least this many batches.
    public var minimumReferenceBatches = 3
    /// Tier 1 runs from this many test batches on.
    public var minimumTier1Batches = 3
    /// Tier 2: share of the test site's batches whose mean must lie inside the quality range
    /// (with one or two batches, that is every batch).
    public var qualityRangeRequiredShare = 0.9
    /// Width of a trajectory's time bucket, seconds since phase start.
    public var bucketSeconds = 60.0
    /// Where the spec names a progress variable for the phase: Tier 3 compares trajectories by
    /// its value (the time buckets realigned, `ProgressAlignment`) instead of by time. Nil: by time.
    public var alignment: ProgressAlignment? = nil
    /// A batch whose unmonitored share of the phase is above this is excluded.
    public var maximumUnmonitoredShare = 0.05
    public init() {}
}

/// The smallest reference SD a comparison uses, and where it comes from, so a near-constant
/// reference does not turn a difference no instrument resolves into a finding.
public struct StandardDeviationFloor: Sendable, Codable, Equatable {
    public var value: Double
    /// How it was chosen, in words for the report ("measurement resolution 0.001 [pH] of …").
    public var source: String
    public init(value: Double, source: String) {
        self.value = value.isFinite && value > 0 ? value : 0
        self.source = source
    }
}

/// Settings per spec parameter: which tiers apply, and their factors.
public struct ParameterSettings: Sendable, Codable, Equatable {
    /// Tiers that judge this parameter (1: equivalence, 2: quality range, 3: trajectory envelope).
    public var tiers: [Int] = [1, 2, 3]
    /// Tier 2: quality range = reference mean ± k × reference SD.
    public var k = 3.0
    /// Tier 1 (and the paired comparison): margin = marginFactor × reference SD.
    public var marginFactor = 1.5
    public var floor: StandardDeviationFloor
    /// Tier 3: envelope = bucket mean ± envelopeK × bucket SD (each at least the floor).
    public var envelopeK = 3.0
    /// Tier 3: share of a test batch's compared buckets that must lie inside the envelope.
    public var envelopeRequiredShare = 0.9

    public init(floor: StandardDeviationFloor) { self.floor = floor }

    public func applies(_ tier: Int) -> Bool { tiers.contains(tier) }
}
