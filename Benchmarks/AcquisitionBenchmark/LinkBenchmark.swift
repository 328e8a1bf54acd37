import ArgumentParser
import ControlSiteLink
import POCareContract
import Foundation
import MQTT
import POCareCore
import SiteStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Control Site link: backlog drain rate from the store to a subscriber, live end-to-end
/// latency, and the broker's own QoS 1 rate measured with mosquitto_pub in the same run.
struct LinkBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link", abstract: "MQTT publishing: backlog drain rate, live latency across 50 devices, broker limit.")

    @Option(help: "Samples in the backlog (spread over --devices).")
    var backlog = 200_000

    @Option(help: "Devices, for the backlog and the live run.")
    var devices = 50

    @Option(help: "Seconds of the live run at 1 Hz per device.")
    var liveSeconds = 20

    @Option(help: "Group commit interval of the store in the live run (default: the default configuration, none set).")
    var commitInterval: String?

    @Option(help: "Paired measurements of the broker's own rate and the drain (the median ratio is printed): on a shared machine one pair can fall on a busy second.")
    var rounds = 3

    @Option(help: "Folder for the benchmark's files (deleted afterwards).")
    var directory: String = FileManager.default.temporaryDirectory.path

    func run() async throws {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("pocare-link-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = Int.random(in: 20000...40000)
        let broker = try startBroker(folder: folder, port: port)
        defer {
            kill(broker.processIdentifier, SIGKILL)
            broker.waitUntilExit()
        }
        usleep(300_000)

        let readings = (0..<15).map { Reading(parameterId: "p\($0)", value: .number(37 + Double($0) * 0.123), quality: .good) }
        let sampleBytes = Contract.telemetry(
            site: "bench", device: "bench-1",
            samples: [StoredSample(stream: .telemetry(device: "bench-1"), seq: 1, device: "bench-1", time: Date(), cycle: 1,
                                   context: SampleContext(batchId: "B", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "0", count: 64)),
                                   readings: readings)][...], sent: Date())
        let encodeRate = encodeRate(readings: readings)
        var pairs: [(broker: Double, drain: (rate: Double, seconds: Double))] = []
        for round in 0..<max(1, rounds) {
            let brokerRate = try brokerLimit(port: port, payloadBytes: sampleBytes.count * 200)
            let drain = try await drainRate(folder: folder, port: port, readings: readings, round: round)
            pairs.append((brokerRate, drain))
        }
        pairs.sort { $0.drain.rate / $0.broker < $1.drain.rate / $1.broker }
        let ratios = pairs.map { 100 * $0.drain.rate / ($0.broker * 200) }
        let (brokerRate, drain) = pairs[pairs.count / 2]
        let live = try await liveLatency(folder: folder, port: port, readings: readings)

        print("| measure | result |")
        print("| --- | --- |")
        print("| telemetry JSON encoding alone, one core | \(fmt(encodeRate)) samples/s |")
        print("| broker limit: mosquitto_pub -l, QoS 1, \(sampleBytes.count * 200)-byte payloads (one 200-sample message) | \(fmt(brokerRate)) messages/s = \(fmt(brokerRate * 200)) samples/s |")
        print("| backlog drain, store to subscriber, \(backlog) samples of 15 values over \(devices) devices | \(fmt(drain.rate)) samples/s (\(String(format: "%.2f", drain.seconds)) s) |")
        print("| backlog drain against the broker's own rate, same run (median of \(pairs.count) pairs; all: \(ratios.map { String(format: "%.0f", $0) }.joined(separator: ", "))) | \(String(format: "%.0f", ratios[ratios.count / 2])) % |")
        let configuration = commitInterval.map { "commit_interval: \($0)" } ?? "default configuration"
        print("| live latency, sample time to subscriber receipt, \(devices) devices at 1 Hz, \(configuration) | p50 \(String(format: "%.1f", live.p50)) ms, p99 \(String(format: "%.1f", live.p99)) ms, max \(String(format: "%.1f", live.max)) ms (\(live.count) samples) |")
    }

    func fmt(_ v: Double) -> String { String(format: "%.0f", v) }

    /// How fast the link can turn stored samples into telemetry messages, without any I/O.
    func encodeRate(readings: [Reading]) -> Double {
        let samples = (0..<500).map { n in
            StoredSample(stream: .telemetry(device: "bench-1"), seq: Int64(n + 1), device: "bench-1",
                         time: Date(timeIntervalSince1970: 1_795_000_000 + Double(n)), cycle: Int64(n),
                         context: SampleContext(batchId: "B", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "0", count: 64)),
                         readings: readings.map { Reading(parameterId: $0.parameterId, value: .number(($0.value?.number ?? 0) + Double(n) * 0.001), quality: .good) })
        }
        let start = Date()
        var bytes = 0
        for _ in 0..<200 { bytes += Contract.telemetry(site: "bench", device: "bench-1", samples: samples[...], sent: Date()).count }
        precondition(bytes > 0)
        return 200 * 500 / Date().timeIntervalSince(start)
    }

    func startBroker(folder: URL, port: Int) throws -> Process {
        let config = folder.appendingPathComponent("mosquitto.conf")
        try """
            \(geteuid() == 0 ? "user root" : "")
            listener \(port) 127.0.0.1
            allow_anonymous true
            max_queued_messages 0
            max_inflight_messages 0
            """.write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        process.arguments = ["-c", config.path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The broker's own QoS 1 publish rate for payloads of the given size.
    func brokerLimit(port: Int, payloadBytes: Int) throws -> Double {
        let count = 5000
        let line = String(repeating: "x", count: payloadBytes) + "\n"
        let input = folder(for: "pub-input")
        try String(repeating: line, count: count).write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", "bench/limit", "-l"]
        process.standardInput = FileHandle(forReadingAtPath: input)
        let start = Date()
        try process.run()
        process.waitUntilExit()
        return Double(count) / Date().timeIntervalSince(start)
    }

    func folder(for name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent("pocare-\(name)-\(UUID().uuidString)").path }

    /// Counts samples on a subscriber thread of its own.
    final class Counter: Sendable {
        struct Tally {
            var samples = 0
            var latencies: [Double] = []
            var stop = false
        }
        let lock = Mutex(Tally())
    }

    func subscribe(port: Int, counter: Counter, measureLatency: Bool) throws -> Thread {
        var options = BrokerOptions(host: "127.0.0.1", port: port, clientId: "bench-subscriber-\(UUID().uuidString.prefix(8))")
        options.cleanSession = true
        let thread = Thread { [options] in
            guard let client = try? MQTTClient(options: options) else { return }
            client.onEvent = { event in
                switch event {
                case .connected: try? client.subscribe("pocare/v1/+/+/telemetry", qos: 1)
                case .message(_, let payload):
                    let received = Date()
                    if measureLatency, let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                        let samples = object["samples"] as? [[String: Any]]
                    {
                        let times = samples.compactMap { ($0["time"] as? String).flatMap { try? Date($0, strategy: .iso8601) } }
                        counter.lock.withLock {
                            $0.samples += samples.count
                            $0.latencies += times.map { received.timeIntervalSince($0) * 1000 }
                        }
                    } else {
                        // {"seq_first":A,"seq_last":B,... : count without parsing the whole message.
                        let head = String(decoding: payload.prefix(64), as: UTF8.self)
                        let numbers = head.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                        if numbers.count >= 2 { counter.lock.withLock { $0.samples += numbers[1] - numbers[0] + 1 } }
                    }
                default: break
                }
            }
            try? client.connect()
            while !counter.lock.withLock({ $0.stop }) { _ = client.runLoop(milliseconds: 20) }
            client.disconnect()
        }
        thread.start()
        return thread
    }

    func drainRate(folder: URL, port: Int, readings: [Reading], round: Int) async throws -> (rate: Double, seconds: Double) {
        let path = folder.appendingPathComponent("drain-\(round).db").path
        var settings = SiteStore.Settings(path: path)
        settings.freeSpaceWarningBytes = 0
        settings.freeSpaceLimitBytes = 0
        let store = try SiteStore(settings: settings)
        let parameters = readings.map(\.parameterId)
        for n in 0..<backlog {
            let device = "bench-\(n % devices + 1)"
            store.append(
                Sample(deviceId: device, time: Date(timeIntervalSince1970: 1_700_000_000 + Double(n)), monotonicTime: 0,
                       cycle: UInt64(n), startLateness: .zero, missedCycles: 0, readings: readings),
                context: SampleContext(batchId: "B", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "0", count: 64)),
                parameters: parameters)
            if n % 5000 == 0 { while store.pendingRows > 20_000 { usleep(500) } }
        }
        await store.flush()

        let counter = Counter()
        _ = try subscribe(port: port, counter: counter, measureLatency: false)
        usleep(300_000)
        var link = ControlSiteLink.Settings(broker: BrokerOptions(host: "127.0.0.1", port: port, clientId: "bench-site-\(round)"), site: "bench")
        link.window = 256
        link.telemetryBatch = 500
        let publisher = ControlSiteLink(settings: link, storePath: path, store: store) { [] }
        let start = Date()
        publisher.start()
        while counter.lock.withLock({ $0.samples }) < backlog && Date().timeIntervalSince(start) < 120 {
            try await Task.sleep(for: .milliseconds(5))
        }
        let seconds = Date().timeIntervalSince(start)
        let received = counter.lock.withLock { $0.samples }
        publisher.stop()
        counter.lock.withLock { $0.stop = true }
        store.close()
        return (Double(received) / seconds, seconds)
    }

    func liveLatency(folder: URL, port: Int, readings: [Reading]) async throws -> (p50: Double, p99: Double, max: Double, count: Int) {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let basePort = Int.random(in: 41000...50000)
        let sim = Process()
        sim.executableURL = bin.appendingPathComponent("pocare-sim")
        sim.arguments = ["--device", "bench=Benchmarks/profiles/bench-three-requests.yaml@127.0.0.1:\(basePort)",
                         "--replicate", "\(devices)", "--log-level", "warning"]
        try sim.run()
        defer {
            kill(sim.processIdentifier, SIGKILL)
            sim.waitUntilExit()
        }
        let config = folder.appendingPathComponent("live.yaml")
        var yaml = """
            site: bench
            profile_dir: \(FileManager.default.currentDirectoryPath)/Benchmarks/profiles
            store: { path: \(folder.appendingPathComponent("live.db").path)\(commitInterval.map { ", commit_interval: \($0)" } ?? "") }
            control_site: { broker: "mqtt://127.0.0.1:\(port)", client_id: bench-live }
            control: { socket: \(folder.appendingPathComponent("pocared.sock").path) }
            devices:

            """
        for n in 0..<devices {
            yaml += "  - { id: bench-\(n + 1), profile: bench-three-requests.yaml, address: \"127.0.0.1:\(basePort + n)\", poll_interval: 1s }\n"
        }
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        usleep(500_000)
        let counter = Counter()
        _ = try subscribe(port: port, counter: counter, measureLatency: true)
        usleep(300_000)
        let daemon = Process()
        daemon.executableURL = bin.appendingPathComponent("pocared")
        daemon.arguments = ["--config", config.path, "--log-level", "warning"]
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        try await Task.sleep(for: .seconds(3))  // connect and settle
        counter.lock.withLock { $0.latencies.removeAll() }
        try await Task.sleep(for: .seconds(liveSeconds))
        let latencies = counter.lock.withLock { $0.latencies }.sorted()
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
        counter.lock.withLock { $0.stop = true }
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        return (percentile(0.5), percentile(0.99), latencies.last ?? .nan, latencies.count)
    }
}
