import ComparabilityMethod
import Testing

@Suite("t and F distributions")
struct DistributionTests {
    @Test("Student's t quantiles match the printed tables")
    func tTable() {
        #expect(abs(Distributions.studentTQuantile(0.95, df: 1) - 6.314) < 1e-3)
        #expect(abs(Distributions.studentTQuantile(0.95, df: 4) - 2.132) < 1e-3)
        #expect(abs(Distributions.studentTQuantile(0.975, df: 30) - 2.042) < 1e-3)
        #expect(abs(Distributions.studentTQuantile(0.05, df: 10) + 1.812) < 1e-3)
    }

    @Test("F quantiles match the printed tables")
    func fTable() {
        #expect(abs(Distributions.fisherFQuantile(0.95, d1: 3, d2: 7) - 4.35) < 1e-2)
        #expect(abs(Distributions.fisherFQuantile(0.95, d1: 5, d2: 10) - 3.33) < 1e-2)
        #expect(abs(Distributions.fisherFQuantile(0.99, d1: 2, d2: 20) - 5.85) < 1e-2)
    }

    @Test("each quantile is the inverse of its CDF, over a grid of probabilities and degrees of freedom")
    func inverse() {
        for df in [1.0, 2.5, 4, 9.3, 30, 250] {
            for p in [0.001, 0.05, 0.3, 0.5, 0.8, 0.95, 0.999] {
                let t = Distributions.studentTQuantile(p, df: df)
                #expect(abs(Distributions.studentTCDF(t, df: df) - p) < 1e-12)
                let f = Distributions.fisherFQuantile(p, d1: df, d2: df + 3)
                #expect(abs(Distributions.fisherFCDF(f, d1: df, d2: df + 3) - p) < 1e-12)
            }
        }
    }

    @Test("outside values give clear answers, never a hang: non-finite, zero and negative degrees of freedom")
    func edges() {
        #expect(Distributions.studentTCDF(.infinity, df: 3) == 1)
        #expect(Distributions.studentTCDF(-.infinity, df: 3) == 0)
        #expect(Distributions.studentTCDF(.nan, df: 3).isNaN)
        #expect(Distributions.studentTCDF(1, df: 0).isNaN)
        #expect(Distributions.studentTQuantile(0.95, df: -1).isNaN)
        #expect(Distributions.fisherFCDF(-1, d1: 2, d2: 3) == 0)
        #expect(Distributions.fisherFQuantile(0.95, d1: .nan, d2: 3).isNaN)
    }
}
