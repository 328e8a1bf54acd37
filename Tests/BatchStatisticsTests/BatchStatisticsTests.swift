import BatchStatistics
import POCareCore
import PropertyBased
import Testing

/// A spec with one phase limiting temperature: alert 36.5...37.5, action 36...38, an alarm
/// on-delay of 30 s and an off-delay of 10 s (which the statistics must ignore).
func temperatureSpec(running: RunningSignal? = nil, discrete: ParameterLimits? = nil) -> IPCSpec {
    var limits = [ParameterLimits(
        parameterId: "temperature", unit: "Cel", alertLow: 36.5, alertHigh: 37.5, actionLow: 36, actionHigh: 38,
        onDelay: .seconds(30), offDelay: .seconds(10))]
    if let discrete { limits.append(discrete) }
    return IPCSpec(
        identity: SpecIdentity(product: "P", process: "Q", documentId: "D", version: "1", approvedBy: "QA", approvalDate: "2026-01-01",
                               changeControl: "CC", profiles: ["p"]),
        phases: [PhaseLimits(phase: "expansion", limits: limits)], communicationLossPolls: 3, running: running, fingerprint: "sha256:test")
}

/// Samples one a second from 0, with `value(second)`; nil skips the second (no sample).
func summarise(
    seconds: ClosedRange<Int>, end: Double? = nil, spec: IPCSpec = temperatureSpec(), tracks: [BatchStatistics.Track] = [.init(parameter: "temperature", unit: "Cel")],
    value: (Int) -> [BatchStatistics.Observed?]?, running: (Int) -> BatchStatistics.Observed? = { _ in nil }
) -> BatchStatistics.Summary {
    let times = seconds.filter { value($0) != nil }.map(Double.init)
    var accumulator = BatchStatistics.Accumulator(
        tracks: tracks, spec: spec, start: Double(seconds.lowerBound), end: end ?? Double(seconds.upperBound),
        holdLimit: BatchStatistics.holdLimit(times: times))
    for second in seconds {
        guard let values = value(second) else { continue }
        accumulator.add(time: Double(second), phase: "expansion", running: running(second)) { values[$0] }
    }
    return accumulator.finish()
}

@Suite("Batch statistics: one excursion rule, one time weighting")
struct BatchStatisticsTests {
    @Test("a spike shorter than the alarm's on-delay is an excursion: the time the value was outside")
    func spikeShorterThanOnDelay() throws {
        // 38.6 from 100 s to 120 s (21 samples): outside for 21 s, far below the 30 s on-delay.
        let summary = summarise(seconds: 0...300) { s in [.number((100...120).contains(s) ? 38.6 : 37.0)] }
        let excursion = try #require(summary.excursions.first)
        #expect(summary.excursions.count == 1)
        #expect(excursion.start == 100 && excursion.end == 121 && excursion.durationS == 21)
        #expect(excursion.worstValue == 38.6 && excursion.worstLevel == "action" && excursion.side == .high)
        #expect(abs(excursion.areaOutside - 1.1 * 21) < 1e-9)
        #expect(!excursion.openAtBatchEnd)
        let p = try #require(summary.phase("expansion")?.parameter("temperature"))
        #expect(p.excursions == 1 && p.excursionS == 21 && p.actionS == 21)
    }

    @Test("an excursion followed by the alarm's off-delay lasts as long as the value was outside, not longer")
    func excursionThenOffDelay() throws {
        // Outside from 20 s to 79 s, back at 80 s: 60 s outside, whatever the 10 s off-delay adds to the alarm.
        let summary = summarise(seconds: 0...200) { s in [.number((20..<80).contains(s) ? 38.4 : 36.9)] }
        let excursion = try #require(summary.excursions.first)
        #expect(summary.excursions.count == 1 && excursion.start == 20 && excursion.end == 80 && excursion.durationS == 60)
        #expect(excursion.worstLevel == "action")
    }

    @Test("values in the alert band are an alert-level excursion; on a limit is inside")
    func alertBand() throws {
        let summary = summarise(seconds: 0...100) { s in [.number(s < 10 ? 37.5 : s < 20 ? 37.7 : 37.0)] }
        #expect(summary.excursions.map(\.durationS) == [10])
        #expect(summary.excursions.first?.worstLevel == "alert")
        let p = try #require(summary.phase("expansion")?.parameter("temperature"))
        #expect(p.alertS == 10 && p.inRangeS == 90 && p.actionS == 0 && p.inRangeShare == 0.9)
    }

    @Test("a hole in the records ends an excursion at the last value's hold and is unmonitored")
    func holeEndsExcursion() throws {
        // Outside from 10 s; no samples from 20 s to 59 s; outside again at 60 s.
        let summary = summarise(seconds: 0...100) { s in (20..<60).contains(s) ? nil : [.number((10..<70).contains(s) ? 38.6 : 37.0)] }
        #expect(summary.holdLimitS == 3)
        #expect(summary.excursions.map { [$0.start, $0.end] } == [[10, 22], [60, 70]])
        #expect(summary.unmonitored.map { [$0.from, $0.to] } == [[22, 60]])
        #expect(summary.unmonitored.first?.cause == "no samples")
        let p = try #require(summary.phase("expansion")?.parameter("temperature"))
        #expect(p.unmonitoredS == 38 && p.monitoredS == 62 && abs(p.unmonitoredShare - 0.38) < 1e-12)
    }

    @Test("an excursion still outside at the batch's end is open at batch end")
    func openAtEnd() throws {
        let summary = summarise(seconds: 0...50, end: 51) { s in [.number(s >= 40 ? 36.2 : 37.0)] }
        let excursion = try #require(summary.excursions.first)
        #expect(excursion.openAtBatchEnd && excursion.end == 51 && excursion.side == .low && excursion.worstLevel == "alert")
    }

    @Test("the time-weighted mean weights each value by the time it held, from batch start to end")
    func timeWeighting() throws {
        // Fast polling of 40 from 0 to 10 s (every 0.1 s is not possible here, so twice as many samples)
        // does not outweigh: values 36 for 10 s then 38 for 30 s weigh 36 × 10 + 38 × 30.
        var accumulator = BatchStatistics.Accumulator(
            tracks: [.init(parameter: "temperature")], spec: nil, start: 0, end: 40, holdLimit: 3)
        for t in stride(from: 0.0, to: 10.0, by: 0.5) { accumulator.add(time: t, phase: "-", running: nil) { _ in .number(36) } }
        for t in stride(from: 10.0, to: 40.0, by: 1) { accumulator.add(time: t, phase: "-", running: nil) { _ in .number(38) } }
        let p = try #require(accumulator.finish().phase("-")?.parameter("temperature"))
        #expect(abs(p.timeWeightedMean! - (36 * 10 + 38 * 30) / 40) < 1e-12)
        #expect(abs(p.standardDeviation! - (10.0 * 30).squareRoot() / 40 * 2) < 1e-12)
        let arithmetic: Double = (36 * 20 + 38 * 30) / 50.0
        #expect(p.mean! == arithmetic)
        #expect(p.min == 36 && p.max == 38 && p.monitoredS == 40)
    }

    @Test("a lead before the first sample longer than the hold is unmonitored; a shorter one counts as nothing")
    func batchEdges() throws {
        let late = summarise(seconds: 0...60) { s in s < 10 ? nil : [.number(37)] }
        #expect(late.unmonitored.map { [$0.from, $0.to] } == [[0, 10]])
        let prompt = summarise(seconds: 0...60) { s in s < 2 ? nil : [.number(37)] }
        #expect(prompt.unmonitored.isEmpty && prompt.phase("expansion")?.durationS == 58)
        // The last sample holds to the end, at most the hold limit: beyond it, unmonitored.
        let early = summarise(seconds: 0...60, end: 70) { _ in [.number(37)] }
        #expect(early.unmonitored.map { [$0.from, $0.to] } == [[63, 70]])
    }

    @Test("a sample taken while the running signal says the device is not running is unmonitored")
    func notRunning() throws {
        let spec = temperatureSpec(running: RunningSignal(parameterId: "running"))
        let summary = summarise(seconds: 0...100, spec: spec, value: { s in [.number(s >= 50 && s < 60 ? 39 : 37)] },
                                running: { s in .flag(!(40..<70).contains(s)) })
        #expect(summary.excursions.isEmpty)
        #expect(summary.unmonitored.map { [$0.from, $0.to] } == [[40, 70]] && summary.unmonitored.first?.cause == "device not running")
    }

    @Test("a discrete condition is an excursion for as long as it holds, at the rule's level")
    func discreteCondition() throws {
        let door = ParameterLimits(parameterId: "door_open", onDelay: .seconds(60), discrete: .flag(alarmWhen: true), discreteLevel: .action)
        let status = ParameterLimits(parameterId: "status", discrete: .labels(["fault"]))
        let spec = temperatureSpec(discrete: door)
        var withStatus = spec
        withStatus.phases[0].limits.append(status)
        let tracks: [BatchStatistics.Track] = [.init(parameter: "door_open", measured: false), .init(parameter: "status", measured: false)]
        let summary = summarise(seconds: 0...100, spec: withStatus, tracks: tracks) { s in
            [.flag((30..<35).contains(s)), .label((70..<72).contains(s) ? "fault" : "running")]
        }
        #expect(summary.excursions.map { "\($0.parameter) \(Int($0.start))...\(Int($0.end)) \($0.worstLevel) \($0.areaOutside)" }
                == ["door_open 30...35 action 5.0", "status 70...72 alert 2.0"])
        #expect(summary.excursions.last?.worstLabel == "fault" && summary.excursions.last?.side == nil)
    }

    @Test("a clock step back is listed and counts as no time")
    func clockStep() throws {
        var accumulator = BatchStatistics.Accumulator(tracks: [.init(parameter: "temperature")], spec: temperatureSpec(), start: 0, end: 20, holdLimit: 3)
        for t in [0.0, 1, 2, 3, 1.5, 2.5, 3.5] { accumulator.add(time: t, phase: "expansion", running: nil) { _ in .number(37) } }
        let summary = accumulator.finish()
        #expect(summary.unmonitored.contains { $0.cause == "clock step" && $0.from == 1.5 && $0.to == 3 })
        #expect(summary.unmonitoredS == 20 - 6.5)
    }

    @Test("the hold limit is three median sampling intervals, at least two seconds")
    func holdLimit() {
        #expect(BatchStatistics.holdLimit(times: [0, 1, 2, 3, 100]) == 3)
        #expect(BatchStatistics.holdLimit(times: [0, 0.1, 0.2, 0.3]) == 2)
        #expect(BatchStatistics.holdLimit(times: [0, 5, 10, 20, 30]) == 15)  // lower median of 5, 5, 10, 10
        #expect(BatchStatistics.holdLimit(times: [7]) == 2)
        #expect(BatchStatistics.contractTime(nanosecondsSince1970: 1_795_000_000_123_200_000) == 1_795_000_000.123)
        #expect(BatchStatistics.contractTime(nanosecondsSince1970: 1_795_000_000_123_700_000) == 1_795_000_000.124)
    }

    @Test("monitored, unmonitored and held time add up to the batch, and every excursion lies outside the range")
    func timeAddsUp() async {
        let runs = zip(Gen.double(in: 35.5...38.5), Gen.int(in: 1...20)).array(of: 1...30)
        await propertyCheck(count: 200, input: runs, Gen.int(in: 0...4)) { runs, holeEvery in
            var values: [Double?] = []
            for (value, length) in runs { values += Array(repeating: value, count: length) }
            if holeEvery > 0 { for i in values.indices where i % (holeEvery * 7) == 5 { values[i] = nil } }
            let summary = summarise(seconds: 0...(values.count - 1), end: Double(values.count)) { s in values[s].map { [.number($0)] } }
            guard let p = summary.phase("expansion")?.parameter("temperature") else { return }
            let phase = summary.phase("expansion")!.durationS
            #expect(abs(p.monitoredS + p.unmonitoredS - phase) < 1e-9)
            #expect(abs(p.inRangeS! + p.alertS! + p.actionS! - p.monitoredS) < 1e-9)
            #expect(abs(summary.excursions.map(\.durationS).reduce(0, +) - p.alertS! - p.actionS!) < 1e-9)
            for e in summary.excursions {
                for s in Int(e.start)..<Int(e.end.rounded(.up)) where s < values.count {
                    if let v = values[s] { #expect(v < 36.5 || v > 37.5, "\(v) at \(s) s inside an excursion") }
                }
            }
        }
    }
}
