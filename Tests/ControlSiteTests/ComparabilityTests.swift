import ControlSiteRecords
import POCareContract
import POCareCore
import Testing
import TestSupport

@Suite("Comparability statistics (pure)")
struct ComparabilityTests {
    let temperature = ParameterLimits(parameterId: "temperature", unit: "Cel", target: 37, alertLow: 36.5, alertHigh: 37.5,
                                      actionLow: 36, actionHigh: 38)

    @Test("Student's t quantiles match the tables")
    func tQuantiles() {
        #expect(abs(Statistics.studentTQuantile(0.95, df: 10) - 1.812461) < 1e-5)
        #expect(abs(Statistics.studentTQuantile(0.975, df: 5) - 2.570582) < 1e-5)
        #expect(abs(Statistics.studentTQuantile(0.95, df: 1) - 6.313752) < 1e-4)
        #expect(abs(Statistics.studentTCDF(0, df: 7) - 0.5) < 1e-12)
    }

    @Test("a steady batch: its mean, no spread, all time in range, nothing unmonitored")
    func steady() {
        let s = BatchParameterSummary.summarise(
            parameter: "temperature", points: (0..<60).map { .init(time: Double($0), value: 37.1) }, limits: temperature)
        #expect(abs(s.mean! - 37.1) < 1e-9 && s.standardDeviation! < 1e-9)
        #expect(s.inRangeShare == 1 && s.excursions == 0 && s.unmonitoredShare == 0)
    }

    @Test("time in range, in the alert band and beyond action limits; one excursion and its duration")
    func zones() {
        let values = [37, 37, 37, 37, 37, 37.8, 37.8, 37.8, 38.5, 38.5]
        let s = BatchParameterSummary.summarise(
            parameter: "temperature", points: values.enumerated().map { .init(time: Double($0.offset), value: $0.element) },
            limits: temperature)
        #expect(abs(s.inRangeShare - 0.5) < 1e-9 && abs(s.alertShare - 0.3) < 1e-9 && abs(s.actionShare - 0.2) < 1e-9)
        #expect(s.excursions == 1 && s.excursionSeconds == 5)
    }

    @Test("the mean is weighted by time: a burst of fast samples does not outweigh the rest")
    func timeWeighted() {
        // 10 s at 37 sampled every second, then 10 s at 38 sampled every second, plus 10 extra samples at 38 in one second.
        var points = (0..<10).map { BatchParameterSummary.Point(time: Double($0), value: 37) }
        points += (10..<20).map { .init(time: Double($0), value: 38) }
        points += (1..<10).map { .init(time: 19 + Double($0) / 10, value: 38) }
        let s = BatchParameterSummary.summarise(parameter: "temperature", points: points, limits: nil)
        #expect(abs(s.mean! - 37.5) < 0.06)
    }

    @Test("holes in the records and values not read well count as unmonitored")
    func unmonitored() {
        var points = (0..<10).map { BatchParameterSummary.Point(time: Double($0), value: 37) }
        points += (30..<40).map { .init(time: Double($0), value: 37) }
        let holes = BatchParameterSummary.summarise(parameter: "temperature", points: points, limits: temperature)
        #expect(abs(holes.unmonitoredShare - 18.0 / 40.0) < 1e-9)
        let bad = BatchParameterSummary.summarise(
            parameter: "temperature", points: (0..<10).map { .init(time: Double($0), value: $0 < 5 ? 37 : nil) }, limits: temperature)
        #expect(abs(bad.unmonitoredShare - 0.5) < 1e-9)
    }

    @Test("TOST: the same batches are equivalent; batches 0.5 apart with a margin of 0.075 are not")
    func tost() throws {
        let reference = [37.0, 37.05, 36.95, 37.02, 36.98, 37.01]
        let same = try #require(EquivalenceTest.tost(reference.reversed(), reference, margin: 0.075))
        #expect(same.equivalent && abs(same.difference) < 1e-9)
        let warm = try #require(EquivalenceTest.tost(reference.map { $0 + 0.5 }, reference, margin: 0.075))
        #expect(!warm.equivalent && abs(warm.difference - 0.5) < 1e-9)
        #expect(EquivalenceTest.tost([37], reference, margin: 1) == nil)
    }

    @Test("a site 0.5 degC warm is flagged, a comparable one is not, a site with two batches is too few")
    func assessment() {
        let offsets = [-0.06, 0.03, 0.0, 0.05, -0.02, 0.01]
        let means: [String: [Double]] = [
            "site-a": offsets.map { 37 + $0 },
            "site-b": offsets.reversed().map { 37 + $0 },
            "site-c": offsets.map { 37.5 + $0 },
            "site-d": [37.0, 37.02],
        ]
        let result = Dictionary(uniqueKeysWithValues: Comparability.assess(parameter: "temperature", batchMeans: means, reference: "site-a")
            .map { ($0.site, $0) })
        #expect(result["site-a"]!.isReference && !result["site-a"]!.flagged)
        #expect(!result["site-b"]!.flagged && result["site-b"]!.equivalence?.equivalent == true && result["site-b"]!.insideShare == 1)
        #expect(result["site-c"]!.flagged && result["site-c"]!.insideShare == 0 && result["site-c"]!.equivalence?.equivalent == false)
        #expect(result["site-c"]!.reasons.count == 2)
        #expect(!result["site-d"]!.flagged && result["site-d"]!.tooFewBatches)
        #expect(result["site-d"]!.reasons.first?.hasPrefix("too few batches: 2") == true)
    }

    @Test("a reference site with too few batches means no site is judged")
    func weakReference() {
        let result = Comparability.assess(parameter: "t", batchMeans: ["ref": [37, 37.1], "x": [38, 38, 38]], reference: "ref")
        #expect(result.allSatisfy { !$0.flagged })
        #expect(result.first { $0.site == "x" }?.reasons.first?.contains("reference site has too few") == true)
    }
}
