import Acquisition
import ArgumentParser
import Foundation
import InProcessControl
import POCareConfig
import POCareCore

/// Parameter evaluations per second on one core: every numeric parameter of the benchmark
/// device held to alert and action limits with delays, deadband and a rate limit, on values
/// that stay in range (the normal case at a site: no events, pure evaluation).
struct EvaluationBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluation", abstract: "In-process control evaluation rate on one core.")

    @Option(help: "Profile of the benchmark device.")
    var profile = "Benchmarks/profiles/bench-three-requests.yaml"

    @Option(help: "Samples to evaluate per round.")
    var samples = 2_000_000

    @Option(help: "Rounds; the median is reported.")
    var rounds = 5

    func run() throws {
        let profile = try ProfileLoader.require(path: self.profile)
        let numeric = profile.parameters.filter { $0.dataType.isNumeric && $0.enumeration == nil }
        let limits = numeric.map { p in
            ParameterLimits(
                parameterId: p.id, unit: p.unit, target: 100, alertLow: 50, alertHigh: 150, actionLow: 25, actionHigh: 175,
                maxRatePerMinute: 1e9, onDelay: .seconds(30), offDelay: .seconds(10), deadband: 1, priority: .high)
        }
        let spec = IPCSpec(
            identity: SpecIdentity(product: "bench", process: "bench", documentId: "BENCH", version: "1", approvedBy: "-",
                                   approvalDate: "2026-01-01", changeControl: "-", profiles: [profile.id]),
            phases: [PhaseLimits(phase: "expansion", limits: limits)], communicationLossPolls: 5, running: nil,
            fingerprint: "sha256:" + String(repeating: "0", count: 64))
        let engine = ControlEngine()
        engine.register(device: "bench", profile: profile)
        _ = try engine.startBatch(device: "bench", batchId: "B", spec: spec, at: Timestamp(wall: Date(), monotonic: 0))

        // A pool of in-range samples, fed in turn with a 1 s poll clock.
        let pool = (0..<1024).map { n in
            Sample(
                deviceId: "bench", time: Date(), monotonicTime: 0, cycle: 0, startLateness: .zero, missedCycles: 0,
                readings: profile.parameters.map { p in
                    let value: Value = p.dataType.isNumeric ? .number(100 + Double((n * 7 + p.address) % 40) - 20) : .flag(true)
                    return Reading(parameterId: p.id, value: value, quality: .good)
                })
        }
        var events: [ControlEvent] = []
        var rates: [Double] = []
        var clock: Int64 = 0
        for _ in 0..<rounds {
            var batch = pool
            let start = MonotonicClock.now()
            for n in 0..<samples {
                clock += 1_000_000_000
                batch[n & 1023].monotonicTime = clock
                engine.evaluate(batch[n & 1023], into: &events)
            }
            let seconds = Double(MonotonicClock.now() - start) / 1e9
            rates.append(Double(samples * numeric.count) / seconds)
        }
        precondition(events.isEmpty, "in-range data must not raise events")
        let median = rates.sorted()[rates.count / 2]
        print("| measure | result |")
        print("| --- | --- |")
        print("| parameters with limits per sample | \(numeric.count) |")
        print("| samples evaluated per round | \(samples) |")
        print("| parameter evaluations per second, one core (median of \(rounds)) | \(String(format: "%.1f", median / 1e6)) million |")
        print("| time per parameter evaluation | \(String(format: "%.1f", 1e9 / median)) ns |")
    }
}
