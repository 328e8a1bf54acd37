/// Alignment by a progress variable the spec names (its `comparability:` section): each batch's
/// trajectories, read as means per time bucket since the phase's start, are re-bucketed by the
/// value the progress variable had in each time bucket, so batches are compared at the same
/// progress (the same cell density, the same volume fed) instead of at the same clock time.
///
/// The rule, written once for the report and the independent check:
/// 1. The progress variable's value in time bucket i is its mean in that bucket; the progress of
///    bucket i is the running maximum of those values up to i (progress never goes back: a dip,
///    a sample drawn, a noisy reading counts at the largest value reached so far). Time buckets
///    whose value lay below the running maximum are counted (`heldBuckets`) and reported.
/// 2. Time bucket i falls in progress bucket j = ⌊(progress − from) / width⌋; a time bucket
///    without a progress value, below `from` or beyond any finite bucket is not placed; j is at
///    most `maximumBuckets − 1`.
/// 3. A parameter's value in progress bucket j is the mean of its time-bucket means placed in j
///    (each time bucket weighs the same, so the mean is time-weighted); nil where none is.
public struct ProgressAlignment: Sendable, Codable, Equatable {
    /// No aligned trajectory is longer than this many buckets.
    public static let maximumBuckets = 5_000
    public static let rule = "running maximum: a value below the largest reached so far counts at that largest value"

    /// The progress variable (a parameter id).
    public var parameter: String
    public var unit: String
    /// Bucket width, in the variable's unit.
    public var bucket: Double
    /// Where bucket 0 starts.
    public var from: Double
    /// How a falling value is handled, in words for the report.
    public var nonMonotone = ProgressAlignment.rule

    public init(parameter: String, unit: String, bucket: Double, from: Double) {
        self.parameter = parameter
        self.unit = unit
        self.bucket = bucket
        self.from = from
    }

    /// Where progress bucket `index` starts, in the variable's unit.
    public func start(of index: Int) -> Double { from + Double(index) * bucket }

    /// One batch aligned: its trajectories by progress bucket (every parameter but the progress
    /// variable itself), and how many time buckets were held at the running maximum.
    public struct Aligned: Sendable, Equatable {
        public var trajectories: [String: [Double?]]
        public var heldBuckets: Int
        /// Time buckets with a progress value placed in a bucket.
        public var placedBuckets: Int
    }

    /// Realigns one batch's time-bucket trajectories (`timeTrajectories[parameter][timeBucket]`).
    public func align(_ timeTrajectories: [String: [Double?]]) -> Aligned {
        let progress = timeTrajectories[parameter] ?? []
        var placement: [Int?] = []
        var highest: Double? = nil
        var held = 0, placed = 0
        for value in progress {
            guard let value, value.isFinite else { placement.append(nil); continue }
            if let h = highest, value < h { held += 1 } else { highest = value }
            let position = (highest! - from) / bucket
            guard position >= 0, position.isFinite else { placement.append(nil); continue }
            placement.append(Int(min(position, Double(Self.maximumBuckets - 1)).rounded(.down)))
            placed += 1
        }
        let count = (placement.compactMap { $0 }.max() ?? -1) + 1
        var aligned: [String: [Double?]] = [:]
        for (name, values) in timeTrajectories where name != parameter {
            var sums = Array(repeating: 0.0, count: count), counts = Array(repeating: 0, count: count)
            for (i, value) in values.enumerated() {
                guard let value, value.isFinite, i < placement.count, let j = placement[i] else { continue }
                sums[j] += value
                counts[j] += 1
            }
            aligned[name] = (0..<count).map { counts[$0] == 0 ? nil : sums[$0] / Double(counts[$0]) }
        }
        return Aligned(trajectories: aligned, heldBuckets: held, placedBuckets: placed)
    }
}
