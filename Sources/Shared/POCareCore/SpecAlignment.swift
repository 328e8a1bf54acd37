/// How the Control Site aligns the batches' trajectories of one phase when it compares sites:
/// by the value of a progress variable the spec names (a cumulative or growing quantity such as
/// viable cell density or feed added), in buckets of equal width of that variable, instead of by
/// time since the phase's start. A batch that grows more slowly but follows the same course is
/// then compared with the reference at the same progress, not at the same clock time.
public struct SpecAlignment: Sendable, Hashable {
    public var phase: String
    /// The progress variable: a numeric parameter of the spec's profiles.
    public var parameterId: String
    /// Width of one bucket, in the variable's unit (above 0).
    public var bucket: Double
    /// Where bucket 0 starts, in the variable's unit; values below it are not compared.
    public var from: Double

    public init(phase: String, parameterId: String, bucket: Double, from: Double = 0) {
        self.phase = phase
        self.parameterId = parameterId
        self.bucket = bucket
        self.from = from
    }
}

extension IPCSpec {
    /// The progress variable the spec names for a phase, if it names one.
    public func alignment(for phase: String) -> SpecAlignment? { alignments.first { $0.phase == phase } }
}
