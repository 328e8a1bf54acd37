import Foundation

/// Tier 1: two one-sided tests (TOST) for equivalence of the test site's and the reference's
/// mean batch means within ±margin, in Welch's form (unequal variances): equivalent when the
/// (1 − 2α) confidence interval of the difference lies inside (−margin, +margin).
public struct EquivalenceResult: Sendable, Codable, Equatable {
    public var difference: Double
    public var standardError: Double
    public var degreesOfFreedom: Double
    public var tCritical: Double
    public var lower: Double
    public var upper: Double
    public var margin: Double
    public var equivalent: Bool

    /// Nil with fewer than two batches on either side (no SD, no test).
    public static func tost(test: [Double], reference: [Double], margin: Double, alpha: Double) -> EquivalenceResult? {
        guard test.count >= 2, reference.count >= 2 else { return nil }
        let n1 = Double(test.count), n2 = Double(reference.count)
        let v1 = pow(Descriptive.standardDeviation(test), 2) / n1
        let v2 = pow(Descriptive.standardDeviation(reference), 2) / n2
        let difference = Descriptive.mean(test) - Descriptive.mean(reference)
        let se = (v1 + v2).squareRoot()
        // Welch–Satterthwaite; with no spread on either side the pooled count stands in.
        let df = se > 0 ? pow(v1 + v2, 2) / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)) : n1 + n2 - 2
        let t = Distributions.studentTQuantile(1 - alpha, df: df)
        let lower = difference - t * se, upper = difference + t * se
        return EquivalenceResult(
            difference: difference, standardError: se, degreesOfFreedom: df, tCritical: t, lower: lower, upper: upper,
            margin: margin, equivalent: lower > -margin && upper < margin)
    }
}

/// The power of Tier 1 for the batch counts at hand: the probability that TOST shows two
/// identical sites equivalent, when batch means vary by one reference SD and the margin is
/// `marginFactor` SD. The standard approximation for an equivalence test of two means
/// (Chow, Shao and Wang, Sample Size Calculations in Clinical Research, §3.2):
///
///   power = max(0, 2 · F_t(marginFactor / √(1/n₁ + 1/n₂) − t_{1−α, ν}; ν) − 1),  ν = n₁ + n₂ − 2.
public enum EquivalencePower {
    public static func power(testBatches n1: Int, referenceBatches n2: Int, marginFactor: Double, alpha: Double) -> Double {
        guard n1 >= 1, n2 >= 1, n1 + n2 > 2 else { return 0 }
        let df = Double(n1 + n2 - 2)
        let shift = marginFactor / (1 / Double(n1) + 1 / Double(n2)).squareRoot()
        let t = Distributions.studentTQuantile(1 - alpha, df: df)
        return max(0, 2 * Distributions.studentTCDF(shift - t, df: df) - 1)
    }

    /// The fewest test batches (up to `limit`) that give the required power with this many
    /// reference batches; nil when no count up to the limit does (the reference needs more).
    public static func testBatchesNeeded(
        referenceBatches: Int, marginFactor: Double, alpha: Double, requiredPower: Double, limit: Int = 200
    ) -> Int? {
        (2...limit).first { power(testBatches: $0, referenceBatches: referenceBatches, marginFactor: marginFactor, alpha: alpha) >= requiredPower }
    }

    /// The fewest batches n per site, the same on both sides, that give the required power.
    public static func balancedBatchesNeeded(marginFactor: Double, alpha: Double, requiredPower: Double, limit: Int = 200) -> Int? {
        (2...limit).first { power(testBatches: $0, referenceBatches: $0, marginFactor: marginFactor, alpha: alpha) >= requiredPower }
    }
}

/// The paired comparison of the yearly check: batches made from one split starting material
/// form pairs (test, reference), and the differences are judged. With two or more pairs, the
/// (1 − 2α) CI of the mean difference (t with n − 1 degrees of freedom) must lie within
/// ±margin; with one pair, the difference itself must.
public struct PairedResult: Sendable, Codable, Equatable {
    public var pairs: Int
    public var differences: [Double]
    public var meanDifference: Double
    public var standardDeviation: Double
    public var tCritical: Double?
    public var lower: Double
    public var upper: Double
    public var margin: Double
    public var equivalent: Bool

    public init?(pairs: [(test: Double, reference: Double)], margin: Double, alpha: Double) {
        guard !pairs.isEmpty else { return nil }
        differences = pairs.map { $0.test - $0.reference }
        self.pairs = pairs.count
        meanDifference = Descriptive.mean(differences)
        standardDeviation = Descriptive.standardDeviation(differences)
        self.margin = margin
        if pairs.count >= 2 {
            let t = Distributions.studentTQuantile(1 - alpha, df: Double(pairs.count - 1))
            let half = t * standardDeviation / Double(pairs.count).squareRoot()
            tCritical = t
            lower = meanDifference - half
            upper = meanDifference + half
        } else {
            tCritical = nil
            lower = meanDifference
            upper = meanDifference
        }
        equivalent = lower > -margin && upper < margin
    }
}
