import Foundation

/// The few statistics comparability needs, written out so they can be checked by hand.
public enum Statistics {
    public static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    /// Sample standard deviation (n − 1); 0 for fewer than two values.
    public static func standardDeviation(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }

    /// P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, as in Welch's test).
    public static func studentTCDF(_ t: Double, df: Double) -> Double {
        let x = df / (df + t * t)
        let tail = 0.5 * regularizedIncompleteBeta(x, a: df / 2, b: 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The t with P(T ≤ t) = p, by bisection on the CDF (monotone, so bisection cannot miss).
    public static func studentTQuantile(_ p: Double, df: Double) -> Double {
        var low = -1000.0, high = 1000.0
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if studentTCDF(mid, df: df) < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// I_x(a, b) by its continued fraction (Lentz), using the symmetry for fast convergence.
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logGammas + logPowers)
        if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a) }
        let tiny = 1e-300
        var f = 1.0, c = 1.0, d = 0.0
        for i in 0...400 {
            let m = Double(i / 2)
            let numerator: Double
            if i == 0 {
                numerator = 1
            } else if i % 2 == 0 {
                numerator = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m))
            } else {
                numerator = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))
            }
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            d = 1 / d
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            let step = c * d
            f *= step
            if abs(1 - step) < 1e-14 { break }
        }
        return front * (f - 1) / a
    }
}

/// Two one-sided tests (TOST) for equivalence of two means within ±margin, Welch's form
/// (unequal variances): equivalent when the (1 − 2α) confidence interval of the difference
/// lies inside (−margin, +margin).
public struct EquivalenceTest: Sendable, Codable, Equatable {
    public var difference: Double
    public var lower: Double
    public var upper: Double
    public var margin: Double
    public var degreesOfFreedom: Double
    public var equivalent: Bool

    public static func tost(_ test: [Double], _ reference: [Double], margin: Double, alpha: Double = 0.05) -> EquivalenceTest? {
        guard test.count >= 2, reference.count >= 2 else { return nil }
        let n1 = Double(test.count), n2 = Double(reference.count)
        let v1 = pow(Statistics.standardDeviation(test), 2) / n1
        let v2 = pow(Statistics.standardDeviation(reference), 2) / n2
        let difference = Statistics.mean(test) - Statistics.mean(reference)
        let se = (v1 + v2).squareRoot()
        // Welch–Satterthwaite; with no spread at all the difference is known exactly.
        let df = se > 0 ? pow(v1 + v2, 2) / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)) : n1 + n2 - 2
        let t = Statistics.studentTQuantile(1 - alpha, df: df)
        let lower = difference - t * se, upper = difference + t * se
        return EquivalenceTest(difference: difference, lower: lower, upper: upper, margin: margin, degreesOfFreedom: df,
                               // Batches without any spread and no difference are the same, whatever the margin (zero then).
                               equivalent: (lower > -margin && upper < margin) || (se == 0 && difference == 0))
    }
}
