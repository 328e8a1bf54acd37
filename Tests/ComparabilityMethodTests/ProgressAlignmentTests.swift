import ComparabilityMethod
import Testing

@Suite("Trajectories aligned by the progress variable the spec names")
struct ProgressAlignmentTests {
    static let density = ProgressAlignment(parameter: "viable_cell_density", unit: "10*6/mL", bucket: 1, from: 1)

    @Test("a falling reading counts at the running maximum, and is counted; a bucket without progress or below the origin is not placed")
    func runningMaximum() {
        let aligned = Self.density.align([
            "viable_cell_density": [0.5, 1.2, 1.8, 1.4, nil, 2.5, 2.2, 3.1],
            "dissolved_oxygen": [90, 80, 70, 60, 50, 40, 30, 20],
        ])
        // 0.5 lies below the origin; 1.4 is held at 1.8 (bucket 0); nil is not placed; 2.2 is held at 2.5 (bucket 1).
        #expect(aligned.heldBuckets == 2 && aligned.placedBuckets == 6)
        let expected: [Double?] = [70, 35, 20]
        #expect(aligned.trajectories["dissolved_oxygen"] == expected)
        #expect(aligned.trajectories["viable_cell_density"] == nil)
    }

    @Test("no progress value at all gives empty trajectories, never a trap")
    func noProgress() {
        let aligned = Self.density.align(["dissolved_oxygen": [90, 80], "viable_cell_density": [nil, .nan]])
        #expect(aligned.trajectories["dissolved_oxygen"] == [] && aligned.placedBuckets == 0)
        let beyond = ProgressAlignment(parameter: "v", unit: "", bucket: 1e-300, from: 0).align(["v": [1e300], "x": [1]])
        #expect(beyond.trajectories["x"] == [] && beyond.placedBuckets == 0)
        let far = ProgressAlignment(parameter: "v", unit: "", bucket: 1e-200, from: 0).align(["v": [1e10], "x": [1]])
        #expect(far.trajectories["x"]?.count == ProgressAlignment.maximumBuckets && far.trajectories["x"]?.last == 1)
    }

    @Test("a slower-growing batch of the same shape is outside the envelope by time and inside it by cell density")
    func slowerGrowth() throws {
        let fixtures = try Fixture.all()
        let byTime = try #require(fixtures.first { $0.name == "slower-growth-by-time" })
        let byProgress = try #require(fixtures.first { $0.name == "slower-growth-by-progress" })
        func judge(_ f: Fixture) -> SiteJudgement {
            TieredAssessment.judge(site: "test", test: f.batches("test"), reference: f.batches("reference"), parameters: f.parameters,
                                   settings: f.settings)
        }
        let time = judge(byTime), progress = judge(byProgress)
        #expect(time.verdict == .notComparable)
        #expect(time.reasons.contains { $0.contains("Tier 3") && $0.contains("of its time inside") })
        #expect(progress.verdict == .comparable, "\(progress.reasons)")
        let envelope = try #require(progress.parameters.first?.envelope.first?.result)
        #expect(envelope.passed && envelope.comparedBuckets >= 10)
        // Tiers 1 and 2 see the same means either way.
        #expect(time.parameters.first?.qualityRange == progress.parameters.first?.qualityRange)
    }

    @Test("the progress variable's own trajectory is not judged against itself; a departure is placed in its unit")
    func alignedByItself() throws {
        var settings = MethodSettings()
        settings.alignment = Self.density
        let floor = ParameterSettings(floor: .init(value: 0.1, source: "test"))
        let reference = (1...3).map { n in
            BatchInput(id: "R\(n)", site: "a", means: ["viable_cell_density": 3, "ph": 7.2], trajectories: ["ph": [7.2, 7.2, 7.2]])
        }
        let test = [BatchInput(id: "T1", site: "b", means: ["viable_cell_density": 3, "ph": 7.2], trajectories: ["ph": [7.2, 7.9, 7.9]])]
        let j = TieredAssessment.judge(site: "b", test: test, reference: reference,
                                       parameters: [("viable_cell_density", floor), ("ph", floor)], settings: settings)
        let density = try #require(j.parameters.first { $0.parameter == "viable_cell_density" })
        #expect(density.envelope.isEmpty && density.reasons.contains("Tier 3 not run: the trajectories are aligned by viable_cell_density itself"))
        let ph = try #require(j.parameters.first { $0.parameter == "ph" })
        #expect(ph.verdict == .notComparable)
        #expect(ph.reasons.contains { $0.contains("of its viable_cell_density buckets inside") && $0.contains("at viable_cell_density 2...3 10*6/mL") },
                "\(ph.reasons)")
    }
}
