import Foundation

/// Student's t and Fisher's F distributions, as comparability needs them: CDFs through the
/// regularized incomplete beta function (continued fraction, modified Lentz), quantiles by
/// bisection on the CDF (monotone, so bisection cannot miss). Written out so a statistician can
/// follow each step; checked against SciPy by `scripts/comparability-check.py`.
public enum Distributions {
    /// I_x(a, b), the regularized incomplete beta function, for 0 ≤ x ≤ 1 and a, b > 0.
    /// `complement` is 1 − x, passed separately so that x near 1 keeps its precision.
    public static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double, complement: Double? = nil) -> Double {
        let y = complement ?? (1 - x)
        guard x > 0 else { return 0 }
        guard y > 0 else { return 1 }
        // The continued fraction converges fast for x < (a + 1) / (a + b + 2); beyond, use
        // I_x(a, b) = 1 − I_{1−x}(b, a).
        if x > (a + 1) / (a + b + 2) {
            return 1 - regularizedIncompleteBeta(y, a: b, b: a, complement: x)
        }
        let logBeta = lgamma(a) + lgamma(b) - lgamma(a + b)
        let front = exp(a * log(x) + b * log(y) - logBeta) / a
        return front * betaContinuedFraction(x, a: a, b: b)
    }

    /// The continued fraction of I_x(a, b) (Numerical Recipes' betacf), evaluated by the
    /// modified Lentz method.
    static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            h *= step
            if abs(step - 1) < 1e-16 { break }
        }
        return h
    }

    /// P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, as in Welch's test).
    public static func studentTCDF(_ t: Double, df: Double) -> Double {
        if t.isNaN || !(df > 0) { return .nan }
        if t == .infinity { return 1 }
        if t == -.infinity { return 0 }
        let t2 = t * t
        // tail = P(T > |t|) = I_{df/(df+t²)}(df/2, 1/2) / 2
        let tail = 0.5 * regularizedIncompleteBeta(df / (df + t2), a: df / 2, b: 0.5, complement: t2 / (df + t2))
        return t >= 0 ? 1 - tail : tail
    }

    /// The t with P(T ≤ t) = p.
    public static func studentTQuantile(_ p: Double, df: Double) -> Double {
        guard p > 0, p < 1, df > 0 else { return p == 1 ? .infinity : p == 0 ? -.infinity : .nan }
        if p == 0.5 { return 0 }
        if p < 0.5 { return -studentTQuantile(1 - p, df: df) }
        var high = 1.0
        while studentTCDF(high, df: df) < p && high < 1e300 { high *= 2 }
        return bisect(low: 0, high: high) { studentTCDF($0, df: df) < p }
    }

    /// P(F ≤ x) for Fisher's F with (d1, d2) degrees of freedom.
    public static func fisherFCDF(_ x: Double, d1: Double, d2: Double) -> Double {
        if x.isNaN || !(d1 > 0) || !(d2 > 0) { return .nan }
        guard x > 0 else { return 0 }
        if x == .infinity { return 1 }
        let numerator = d1 * x
        return regularizedIncompleteBeta(numerator / (numerator + d2), a: d1 / 2, b: d2 / 2, complement: d2 / (numerator + d2))
    }

    /// The x with P(F ≤ x) = p.
    public static func fisherFQuantile(_ p: Double, d1: Double, d2: Double) -> Double {
        guard p > 0, p < 1, d1 > 0, d2 > 0 else { return p == 0 ? 0 : p == 1 ? .infinity : .nan }
        var high = 1.0
        while fisherFCDF(high, d1: d1, d2: d2) < p && high < 1e300 { high *= 2 }
        return bisect(low: 0, high: high) { fisherFCDF($0, d1: d1, d2: d2) < p }
    }

    /// The boundary between where `isBelow` holds and where it does not, to the last bit.
    static func bisect(low: Double, high: Double, isBelow: (Double) -> Bool) -> Double {
        var low = low, high = high
        for _ in 0..<2_000 {
            let mid = low + (high - low) / 2
            if mid <= low || mid >= high { break }
            if isBelow(mid) { low = mid } else { high = mid }
        }
        return low + (high - low) / 2
    }
}
