/// Mean and sample standard deviation, written out so they can be checked by hand.
public enum Descriptive {
    public static func mean(_ xs: [Double]) -> Double {
        xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
    }

    /// Sample standard deviation (n − 1); 0 for fewer than two values.
    public static func standardDeviation(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }
}

/// The reference batches' means of one parameter: their mean, their SD and the SD the
/// comparison uses (the larger of the SD and the floor).
public struct ReferenceStatistics: Sendable, Codable, Equatable {
    public var batches: Int
    public var mean: Double
    public var standardDeviation: Double
    public var effectiveStandardDeviation: Double
    /// True when the floor, not the batches, set the SD.
    public var floorApplied: Bool

    public init(_ means: [Double], floor: StandardDeviationFloor) {
        batches = means.count
        mean = Descriptive.mean(means)
        standardDeviation = Descriptive.standardDeviation(means)
        effectiveStandardDeviation = max(standardDeviation, floor.value)
        floorApplied = floor.value > standardDeviation
    }
}
