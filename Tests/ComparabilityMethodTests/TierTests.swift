import ComparabilityMethod
import Testing

@Suite("The tiers of comparability, as a statistician reads them")
struct TierTests {
    static let settings = MethodSettings()
    static func temperature(floor: Double = 0.01) -> ParameterSettings { ParameterSettings(floor: .init(value: floor, source: "resolution")) }
    static func batches(_ site: String, _ values: [Double], parameter: String = "temperature") -> [BatchInput] {
        values.enumerated().map { BatchInput(id: "\(site)-\($0.offset + 1)", site: site, means: [parameter: $0.element]) }
    }

    @Test("three batches on each side give Tier 1 no power: it does not run, and the report says what it needs")
    func noPowerNoTest() throws {
        let j = TieredAssessment.judge(site: "b", test: Self.batches("b", [37.0, 37.1, 36.95]), reference: Self.batches("a", [37.0, 37.1, 36.9]),
                                       parameters: [("temperature", Self.temperature())], settings: Self.settings)
        let t = try #require(j.parameters.first)
        #expect(t.power == 0 && t.equivalence == nil)
        #expect(t.reasons.contains { $0.contains("too few batches for an equivalence test") })
        #expect(t.testBatchesNeeded == nil && t.balancedBatchesNeeded == 9)
        #expect(j.verdict == .comparable)
    }

    @Test("the power grows with the batches: 3 v 10 about a third, 10 v 10 above 80 %")
    func power() {
        #expect(abs(EquivalencePower.power(testBatches: 3, referenceBatches: 10, marginFactor: 1.5, alpha: 0.05) - 0.36) < 0.02)
        #expect(EquivalencePower.power(testBatches: 10, referenceBatches: 10, marginFactor: 1.5, alpha: 0.05) > 0.8)
        #expect(EquivalencePower.power(testBatches: 1, referenceBatches: 3, marginFactor: 1.5, alpha: 0.05) == 0)
    }

    @Test("one test batch 0.4 degC warm is judged by the quality range 36.7...37.3, and is outside")
    func oneBatch() throws {
        let j = TieredAssessment.judge(site: "b", test: Self.batches("b", [37.4]), reference: Self.batches("a", [37.0, 37.1, 36.9]),
                                       parameters: [("temperature", Self.temperature())], settings: Self.settings)
        let q = try #require(j.parameters.first?.qualityRange)
        #expect(abs(q.low - 36.7) < 1e-12 && abs(q.high - 37.3) < 1e-12 && q.inside == [false])
        #expect(j.verdict == .notComparable)
    }

    @Test("a near-constant reference: without a floor a 0.01 pH difference is flagged, with the floor it is not")
    func floor() {
        let reference = Self.batches("a", [7.000, 7.000, 7.001], parameter: "ph")
        let test = Self.batches("b", [7.01, 7.02, 7.00], parameter: "ph")
        let without = TieredAssessment.judge(site: "b", test: test, reference: reference,
                                             parameters: [("ph", ParameterSettings(floor: .init(value: 0, source: "none")))], settings: Self.settings)
        #expect(without.verdict == .notComparable)
        let with = TieredAssessment.judge(site: "b", test: test, reference: reference,
                                          parameters: [("ph", ParameterSettings(floor: .init(value: 0.02, source: "5% of the alert band")))],
                                          settings: Self.settings)
        #expect(with.verdict == .comparable)
        #expect(with.parameters[0].reference.floorApplied && with.parameters[0].reasons.contains { $0.contains("floor") })
    }

    @Test("fewer than three reference batches: the reference is not established, nothing is judged, the count is said")
    func referenceNotEstablished() {
        let j = TieredAssessment.judge(site: "b", test: Self.batches("b", [37.0]), reference: Self.batches("a", [37.0, 37.1]),
                                       parameters: [("temperature", Self.temperature())], settings: Self.settings)
        #expect(j.verdict == .notJudged && j.reasons.first?.contains("reference not established: 2") == true)
    }

    @Test("a trajectory that dips and overshoots with the reference's mean passes Tier 2 and fails the envelope")
    func shapeOnly() throws {
        let flat: [Double?] = Array(repeating: 50, count: 20)
        let reference = (0..<5).map { i in
            BatchInput(id: "a-\(i)", site: "a", means: ["do": 50 + Double(i % 3) * 0.5],
                       trajectories: ["do": flat.map { $0.map { $0 + Double((i * 7) % 5) * 0.4 } }])
        }
        let dip: [Double?] = (0..<20).map { i in 50 + (i >= 6 && i < 10 ? -12 : i >= 10 && i < 14 ? 12 : 0) }
        let test = [BatchInput(id: "b-1", site: "b", means: ["do": 50.6], trajectories: ["do": dip])]
        let j = TieredAssessment.judge(site: "b", test: test, reference: reference,
                                       parameters: [("do", ParameterSettings(floor: .init(value: 0.1, source: "resolution")))], settings: Self.settings)
        let p = try #require(j.parameters.first)
        #expect(p.qualityRange?.passed == true)
        let envelope = try #require(p.envelope.first?.result)
        #expect(!envelope.passed && envelope.comparedBuckets == 20 && envelope.insideBuckets == 12)
        #expect(j.verdict == .notComparable)
    }

    @Test("Hotelling's T² needs more reference batches than parameters, and says so")
    func hotellingCounts() {
        let r = HotellingResult.test(parameters: ["a", "b", "c"], reference: [[1, 2, 3], [1, 2, 4], [2, 2, 3]], floors: [0, 0, 0],
                                     batch: [1, 2, 3], alpha: 0.05)
        #expect(r == .failure(.tooFewReferenceBatches(batches: 3, parameters: 3)))
    }

    @Test("batches from one split starting material are compared as pairs; unmatched batches are not paired")
    func paired() throws {
        var reference = Self.batches("a", [37.0, 37.2, 36.9, 37.1])
        var test = Self.batches("b", [37.05, 37.22, 36.93])
        for i in 0..<3 {
            reference[i].startingMaterial = "SM-\(i)"
            test[i].startingMaterial = "SM-\(i)"
        }
        let j = TieredAssessment.judge(site: "b", test: test, reference: reference, parameters: [("temperature", Self.temperature())],
                                       settings: Self.settings)
        let p = try #require(j.parameters.first?.paired)
        #expect(p.pairs == 3 && abs(p.meanDifference - 0.0333333333333) < 1e-9 && p.equivalent)
    }
}
