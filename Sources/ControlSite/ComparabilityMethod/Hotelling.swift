/// The multivariate check of one test batch's parameter means against the reference batches
/// (Hotelling's T² for a new observation): T² = (x − m)ᵀ S⁻¹ (x − m), with m and S the
/// reference batches' mean vector and sample covariance; the batch is outside when T² exceeds
///
///   T²_crit = p (n − 1)(n + 1) / (n (n − p)) · F_{1−α}(p, n − p),
///
/// defined where the reference holds more batches than parameters (n > p). Each variance is
/// at least its parameter's floor squared (the floor's excess is added to the diagonal), so a
/// near-constant parameter does not make S singular.
public struct HotellingResult: Sendable, Codable, Equatable {
    public var parameters: [String]
    public var referenceBatches: Int
    public var tSquared: Double
    public var fCritical: Double
    public var critical: Double
    public var alpha: Double
    public var outside: Bool

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case tooFewReferenceBatches(batches: Int, parameters: Int)
        case singularCovariance
        public var description: String {
            switch self {
            case .tooFewReferenceBatches(let n, let p):
                return "the reference holds \(n) batches for \(p) parameters (more batches than parameters needed)"
            case .singularCovariance:
                return "the reference batches' covariance cannot be inverted"
            }
        }
    }

    /// `reference[batch][parameter]`, `batch[parameter]`, `floors[parameter]`.
    public static func test(
        parameters: [String], reference: [[Double]], floors: [Double], batch: [Double], alpha: Double
    ) -> Result<HotellingResult, Refusal> {
        let n = reference.count, p = parameters.count
        guard p > 0, n > p else { return .failure(.tooFewReferenceBatches(batches: n, parameters: p)) }
        let mean = (0..<p).map { j in Descriptive.mean(reference.map { $0[j] }) }
        var covariance = [[Double]](repeating: [Double](repeating: 0, count: p), count: p)
        for i in 0..<p {
            for j in 0..<p {
                covariance[i][j] = reference.reduce(0) { $0 + ($1[i] - mean[i]) * ($1[j] - mean[j]) } / Double(n - 1)
            }
            covariance[i][i] = max(covariance[i][i], floors[i] * floors[i])
        }
        let difference = (0..<p).map { batch[$0] - mean[$0] }
        guard let solved = LinearAlgebra.choleskySolve(covariance, difference) else { return .failure(.singularCovariance) }
        let t2 = zip(difference, solved).reduce(0) { $0 + $1.0 * $1.1 }
        let f = Distributions.fisherFQuantile(1 - alpha, d1: Double(p), d2: Double(n - p))
        let nd = Double(n), pd = Double(p)
        let critical = pd * (nd - 1) * (nd + 1) / (nd * (nd - pd)) * f
        return .success(HotellingResult(
            parameters: parameters, referenceBatches: n, tSquared: t2, fCritical: f, critical: critical, alpha: alpha,
            outside: t2 > critical))
    }
}

enum LinearAlgebra {
    /// Solves A x = b for a symmetric positive definite A by Cholesky (A = L Lᵀ); nil when A is
    /// not positive definite.
    static func choleskySolve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        let n = b.count
        var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i][j]
                for k in 0..<j { sum -= l[i][k] * l[j][k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i][i] = sum.squareRoot()
                } else {
                    l[i][j] = sum / l[j][j]
                }
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var sum = b[i]
            for k in 0..<i { sum -= l[i][k] * y[k] }
            y[i] = sum / l[i][i]
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = y[i]
            for k in (i + 1)..<n { sum -= l[k][i] * x[k] }
            x[i] = sum / l[i][i]
        }
        return x
    }
}
