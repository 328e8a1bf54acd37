/// Tier 3, the golden-batch envelope: the reference batches' trajectories of one parameter,
/// aligned by time since phase start in buckets of equal width, give per bucket the mean and
/// SD of the reference batches' bucket means; the envelope is mean ± k × SD (the SD at least
/// the floor). A bucket is covered where at least `minimumBatches` reference batches have a value.
public struct Envelope: Sendable, Codable, Equatable {
    public struct Bucket: Sendable, Codable, Equatable {
        public var index: Int
        public var batches: Int
        public var mean: Double
        public var standardDeviation: Double
        public var low: Double
        public var high: Double
    }

    public var k: Double
    public var floor: Double
    /// One per bucket index from 0; nil where the reference does not cover the bucket.
    public var buckets: [Bucket?]

    /// `trajectories[batch][bucket]`: a reference batch's mean in the bucket, nil where it has none.
    public init(reference trajectories: [[Double?]], k: Double, floor: StandardDeviationFloor, minimumBatches: Int) {
        self.k = k
        self.floor = floor.value
        let count = trajectories.map(\.count).max() ?? 0
        buckets = (0..<count).map { index in
            let values = trajectories.compactMap { index < $0.count ? $0[index] : nil }
            guard values.count >= max(2, minimumBatches) else { return nil }
            let mean = Descriptive.mean(values), sd = Descriptive.standardDeviation(values)
            let spread = k * max(sd, floor.value)
            return Bucket(index: index, batches: values.count, mean: mean, standardDeviation: sd, low: mean - spread, high: mean + spread)
        }
    }

    /// One test batch's trajectory against the envelope.
    public func assess(_ trajectory: [Double?], requiredShare: Double) -> EnvelopeResult {
        var compared = 0, inside = 0
        var largest = 0.0, largestBucket: Int? = nil, largestInSD = 0.0
        for (index, value) in trajectory.enumerated() {
            guard let value, index < buckets.count, let bucket = buckets[index] else { continue }
            compared += 1
            let departure = max(bucket.low - value, value - bucket.high, 0)
            if departure == 0 { inside += 1 }
            if departure > largest || largestBucket == nil {
                largest = departure
                largestBucket = index
                largestInSD = departure / max(bucket.standardDeviation, floor, .leastNonzeroMagnitude)
            }
        }
        let share = compared == 0 ? 0 : Double(inside) / Double(compared)
        return EnvelopeResult(
            comparedBuckets: compared, insideBuckets: inside, insideShare: share, largestDeparture: largest,
            largestDepartureInStandardDeviations: largestInSD, largestDepartureBucket: largestBucket, requiredShare: requiredShare,
            passed: compared > 0 && share >= requiredShare)
    }
}

/// A test batch against the reference envelope: its share of compared buckets inside, and its
/// largest departure beyond the envelope (in the parameter's unit, and in bucket SDs).
public struct EnvelopeResult: Sendable, Codable, Equatable {
    public var comparedBuckets: Int
    public var insideBuckets: Int
    public var insideShare: Double
    public var largestDeparture: Double
    public var largestDepartureInStandardDeviations: Double
    public var largestDepartureBucket: Int?
    public var requiredShare: Double
    public var passed: Bool
}
