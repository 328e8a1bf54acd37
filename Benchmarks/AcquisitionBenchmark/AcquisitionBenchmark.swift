import Acquisition
import ArgumentParser
import CModbus
import Foundation
import Logging
import POCareConfig
import POCareCore
import Synchronization

/// Measures acquisition against `pocare-sim` running as a separate process, so the CPU and
/// memory counted here are the poller's alone.
@main
struct Benchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocare-bench",
        abstract: "POCare Edge benchmarks.",
        subcommands: [AcquisitionBenchmark.self, EvaluationBenchmark.self, StoreBenchmark.self, LinkBenchmark.self, DaemonMemoryBenchmark.self],
        defaultSubcommand: AcquisitionBenchmark.self)
}

struct AcquisitionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acquisition",
        abstract: "Modbus acquisition: raw libmodbus round trip, poller overhead, jitter, CPU, RSS, decode rate.")

    @Option(help: "Simulated devices polled at once.")
    var devices = 100

    @Option(help: "Poll interval per device.")
    var interval = "1s"

    @Option(help: "How long to poll all devices.")
    var duration = "30s"

    @Option(help: "Reads in the raw libmodbus and poller-overhead loops.")
    var reads = 20_000

    @Option(help: "First TCP port for the simulated devices.")
    var basePort = 15020

    @Option(help: "Profile of the benchmark device.")
    var profile = "Benchmarks/profiles/bench-three-requests.yaml"

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let profile = try ProfileLoader.require(path: self.profile)
        let plan = ReadPlanner.plan(profile)
        guard let interval = parseDuration(interval), let duration = parseDuration(duration) else {
            throw ValidationError("interval and duration are durations such as 1s or 500ms")
        }
        let simulator = try startSimulator()
        defer {
            simulator.interrupt()
            simulator.waitUntilExit()
        }
        try await waitForPort(basePort + devices - 1)

        print("# POCare Edge acquisition benchmark")
        print("")
        print("- machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.operatingSystemVersionString)")
        print("- device profile: \(profile.id), \(plan.requests.count) requests per poll (\(plan.requests.map { "\($0.range)" }.joined(separator: ", ")))")
        print("")

        // Alternate the two loops and take medians, so that drift on a shared machine
        // affects both alike.
        var raws: [Double] = [], polled: [Double] = [], own: [Double] = []
        for _ in 0..<5 {
            raws.append(try rawRoundTrip(plan: plan, profile: profile))
            let measured = try await pollerRoundTrip(profile: profile, plan: plan)
            polled.append(measured.wall)
            own.append(measured.own)
        }
        let raw = median(raws), pollerPerRead = median(polled), ownPerRead = median(own)
        let decode = decodeRate(profile: profile, plan: plan)
        let fleet = await pollFleet(profile: profile, plan: plan, interval: interval, duration: duration)

        print("| measure | result |")
        print("| --- | --- |")
        print("| raw libmodbus round trip (loopback, same requests) | \(fmt(raw)) µs per read |")
        print("| poller, back to back (plan, read, decode, sample) | \(fmt(pollerPerRead)) µs per read |")
        print("| daemon's own work per read (poller time outside libmodbus) | \(fmt(ownPerRead)) µs = \(fmt(ownPerRead / raw * 100)) % of the raw round trip |")
        print("| wall-clock difference poller − raw (noisy) | \(fmt(pollerPerRead - raw)) µs |")
        print("| decode throughput | \(fmt(decode / 1e6)) million values/s |")
        print("| devices × interval × duration | \(devices) × \(interval) × \(duration) |")
        print("| Modbus reads per second | \(fmt(fleet.readsPerSecond)) |")
        print("| cycles run / missed | \(fleet.cycles) / \(fleet.missed) |")
        print("| failed requests | \(fleet.failed) |")
        print("| start jitter p50 / p99 / max | \(fmt(fleet.p50)) / \(fmt(fleet.p99)) / \(fmt(fleet.max)) ms |")
        print("| CPU (poller process) | \(fmt(fleet.cpuPercent)) % of one core, \(String(format: "%.3f", fleet.cpuPercent / Double(devices))) % per device |")
        print("| RSS | \(fmt(fleet.rssMiB)) MiB total, \(fmt(fleet.rssPerDeviceKiB)) KiB per device |")
    }

    func fmt(_ v: Double) -> String { String(format: v < 10 ? "%.2f" : "%.1f", v) }

    func startSimulator() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("pocare-sim")
        process.arguments = [
            "--device", "bench=\(profile)@127.0.0.1:\(basePort)", "--replicate", "\(devices)", "--no-noise",
            "--log-level", "warning",
        ]
        try process.run()
        return process
    }

    func waitForPort(_ port: Int) async throws {
        for _ in 0..<100 {
            if let probe = try? ModbusConnection(host: "127.0.0.1", port: port, unitId: 1, responseTimeout: .seconds(1)),
                (try? probe.connect()) != nil
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValidationError("the simulator did not start on port \(port)")
    }

    /// The bare libmodbus loop: the same requests the poller makes, nothing else.
    func rawRoundTrip(plan: ReadPlan, profile: DeviceProfile) throws -> Double {
        let connection = try ModbusConnection(host: "127.0.0.1", port: basePort, unitId: 1, responseTimeout: .seconds(1))
        try connection.connect()
        let registers = UnsafeMutablePointer<UInt16>.allocate(capacity: 125)
        let bits = UnsafeMutablePointer<UInt8>.allocate(capacity: 2000)
        defer {
            registers.deallocate()
            bits.deallocate()
        }
        for n in 0..<500 { try connection.read(plan.requests[n % plan.requests.count].range, registers: registers, bits: bits) }
        let start = MonotonicClock.now()
        for n in 0..<reads { try connection.read(plan.requests[n % plan.requests.count].range, registers: registers, bits: bits) }
        return Double(MonotonicClock.now() - start) / Double(reads) / 1000
    }

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// One poller with no pause between cycles: wall time per read includes scheduling,
    /// decoding and building the sample; `own` is the poller's time outside libmodbus.
    func pollerRoundTrip(profile: DeviceProfile, plan: ReadPlan) async throws -> (wall: Double, own: Double) {
        let cycles = reads / plan.requests.count
        let done = Atomic<Int>(0)
        let poller = DevicePoller(
            settings: .init(deviceId: "bench", profile: profile, host: "127.0.0.1", port: basePort, unitId: 1, interval: .zero)
        ) { _ in done.add(1, ordering: .relaxed) }
        poller.start()
        while done.load(ordering: .relaxed) < 200 { try await Task.sleep(for: .milliseconds(1)) }
        let startCount = done.load(ordering: .relaxed)
        let before = poller.statistics
        let start = MonotonicClock.now()
        while done.load(ordering: .relaxed) < startCount + cycles { try await Task.sleep(for: .milliseconds(1)) }
        let elapsed = MonotonicClock.now() - start
        let after = poller.statistics
        let counted = done.load(ordering: .relaxed) - startCount
        poller.stop()
        let ownWork = (after.busyNanoseconds - before.busyNanoseconds) - (after.modbusNanoseconds - before.modbusNanoseconds)
        let requests = Double(after.requests - before.requests)
        return (Double(elapsed) / Double(counted * plan.requests.count) / 1000, Double(ownWork) / requests / 1000)
    }

    func decodeRate(profile: DeviceProfile, plan: ReadPlan) -> Double {
        let registers = [UInt16](repeating: 0x4214, count: 125)
        let iterations = 200_000
        var sink = 0.0
        let start = MonotonicClock.now()
        registers.withUnsafeBufferPointer { buffer in
            for _ in 0..<iterations {
                for request in plan.requests where !request.range.table.isBitTable {
                    for index in request.parameterIndexes {
                        if case .number(let v)? = RegisterCodec.decode(
                            profile.parameters[index], registers: buffer, baseAddress: request.range.start)
                        {
                            sink += v
                        }
                    }
                }
            }
        }
        let values = plan.requests.filter { !$0.range.table.isBitTable }.map(\.parameterIndexes.count).reduce(0, +)
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        if sink == 42 { print("") }  // keeps the loop from being optimised away
        return Double(iterations * values) / seconds
    }

    struct FleetResult {
        var readsPerSecond: Double
        var cycles: Int
        var missed: UInt64
        var failed: UInt64
        var p50: Double
        var p99: Double
        var max: Double
        var cpuPercent: Double
        var rssMiB: Double
        var rssPerDeviceKiB: Double
    }

    func pollFleet(profile: DeviceProfile, plan: ReadPlan, interval: Duration, duration: Duration) async -> FleetResult {
        let lateness = Mutex<[Int64]>([])
        let rssBefore = residentKiB()
        let pollers = (0..<devices).map { n in
            DevicePoller(
                settings: .init(
                    deviceId: "bench-\(n + 1)", profile: profile, host: "127.0.0.1", port: basePort + n, unitId: 1,
                    interval: interval)
            ) { sample in
                // The first cycles include connecting; they are not steady state.
                if sample.cycle >= 2 { lateness.withLock { $0.append(sample.startLateness.nanoseconds) } }
            }
        }
        for poller in pollers { poller.start() }
        try? await Task.sleep(for: interval * 3)
        let cpuStart = cpuSeconds()
        let wallStart = MonotonicClock.now()
        let requestsStart = pollers.map(\.statistics.requests).reduce(0, +)
        try? await Task.sleep(for: duration)
        let cpu = cpuSeconds() - cpuStart
        let wall = Double(MonotonicClock.now() - wallStart) / 1e9
        let requests = pollers.map(\.statistics.requests).reduce(0, +) - requestsStart
        let rssAfter = residentKiB()
        for poller in pollers { poller.stop() }
        let stats = pollers.map(\.statistics)
        let sorted = lateness.withLock { $0 }.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? .nan : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6
        }
        return FleetResult(
            readsPerSecond: Double(requests) / wall, cycles: sorted.count,
            missed: stats.map(\.missedCycles).reduce(0, +), failed: stats.map(\.failedRequests).reduce(0, +),
            p50: percentile(0.5), p99: percentile(0.99), max: percentile(1.0), cpuPercent: cpu / wall * 100,
            rssMiB: Double(rssAfter) / 1024, rssPerDeviceKiB: Double(rssAfter - rssBefore) / Double(devices))
    }

    func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }

    func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
