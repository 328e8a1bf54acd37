/// Tier 2: each test batch's mean against the reference quality range, mean ± k × SD (the SD
/// at least the floor). The site passes when at least the required share of its batches lies
/// inside; with one or two batches that is every batch.
public struct QualityRangeResult: Sendable, Codable, Equatable {
    public var low: Double
    public var high: Double
    public var k: Double
    /// Per test batch, in input order: inside or not.
    public var inside: [Bool]
    public var insideShare: Double
    public var requiredShare: Double
    public var passed: Bool

    public init(reference: ReferenceStatistics, testMeans: [Double], k: Double, requiredShare: Double) {
        self.k = k
        low = reference.mean - k * reference.effectiveStandardDeviation
        high = reference.mean + k * reference.effectiveStandardDeviation
        let low = low, high = high
        inside = testMeans.map { $0 >= low && $0 <= high }
        insideShare = testMeans.isEmpty ? 0 : Double(inside.filter { $0 }.count) / Double(testMeans.count)
        self.requiredShare = requiredShare
        passed = !testMeans.isEmpty && insideShare >= requiredShare
    }
}
