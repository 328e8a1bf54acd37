import ArgumentParser
import Foundation
import SiteStore

#if canImport(Glibc)
import Glibc
#endif

/// The memory of the real `pocared`: its resident set while it polls a number of simulated
/// devices at 1 Hz and publishes to a private mosquitto, and, with `--outage`, while the broker
/// is away and records wait in the store (it must stay flat: the backlog is on disk, not in
/// memory) and after the backlog has drained.
struct DaemonMemoryBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon", abstract: "pocared's resident memory (VmRSS, VmHWM) polling devices, through a broker outage and the drain after it.",
        discussion: """
            Examples:
              pocare-bench daemon --devices 10 --duration 60
              pocare-bench daemon --devices 50 --duration 30 --outage 120
            """)

    @Option(help: "Simulated devices, polled at 1 Hz each.") var devices = 10
    @Option(help: "Seconds of polling with the broker up (before an outage, and after it).") var duration = 60
    @Option(help: "Seconds the broker is down in the middle of the run (0: none).") var outage = 0
    @Option(help: "Folder for the benchmark's files (deleted afterwards).") var directory: String = FileManager.default.temporaryDirectory.path

    struct Memory {
        var rssKiB: Int
        var hwmKiB: Int
    }

    static func memory(of pid: Int32) -> Memory? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func value(_ key: String) -> Int? {
            status.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
        }
        guard let rss = value("VmRSS:"), let hwm = value("VmHWM:") else { return nil }
        return Memory(rssKiB: rss, hwmKiB: hwm)
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("pocare-daemon-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let port = Int.random(in: 20000...40000), basePort = Int.random(in: 41000...50000)
        var broker = try Self.startBroker(folder: folder, port: port)
        defer { Self.stop(broker) }
        let sim = Process()
        sim.executableURL = bin.appendingPathComponent("pocare-sim")
        sim.arguments = ["--device", "bench=Benchmarks/profiles/bench-three-requests.yaml@127.0.0.1:\(basePort)",
                         "--replicate", "\(devices)", "--log-level", "warning"]
        try sim.run()
        defer { Self.stop(sim) }
        let store = folder.appendingPathComponent("site.db").path
        var yaml = """
            site: bench
            profile_dir: \(FileManager.default.currentDirectoryPath)/Benchmarks/profiles
            store: { path: \(store) }
            control_site: { broker: "mqtt://127.0.0.1:\(port)", client_id: bench-memory }
            control: { socket: \(folder.appendingPathComponent("pocared.sock").path) }
            devices:

            """
        for n in 0..<devices {
            yaml += "  - { id: bench-\(n + 1), profile: bench-three-requests.yaml, address: \"127.0.0.1:\(basePort + n)\", poll_interval: 1s }\n"
        }
        let config = folder.appendingPathComponent("site.yaml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        usleep(500_000)
        let daemon = Process()
        daemon.executableURL = bin.appendingPathComponent("pocared")
        daemon.arguments = ["--config", config.path, "--log-level", "warning"]
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { Self.stop(daemon) }
        let pid = daemon.processIdentifier

        print("pocared, \(devices) devices at 1 Hz, each sample 15 parameters in 3 requests; VmRSS every second")
        var series: [(second: Int, phase: String, memory: Memory)] = []
        var second = 0
        func watch(_ seconds: Int, _ phase: String) async throws {
            for _ in 0..<seconds {
                try await Task.sleep(for: .seconds(1))
                second += 1
                if let memory = Self.memory(of: pid) { series.append((second, phase, memory)) }
            }
        }
        try await watch(duration, "polling")
        if outage > 0 {
            Self.stop(broker)
            try await watch(outage, "broker down")
            broker = try Self.startBroker(folder: folder, port: port)
            // The backlog drains; then as long again with the broker up.
            var drained = false
            for _ in 0..<120 where !drained {
                try await watch(1, "draining")
                let streams = (try? StoreReader(path: store).streams()) ?? []
                drained = !streams.isEmpty && streams.allSatisfy { $0.deliveredSeq >= $0.lastSeq - Int64(devices) }
            }
            try await watch(duration, "after the drain")
        }
        let report = Self.summary(series)
        for line in report { print(line) }
        if let last = series.last { print("| VmHWM (the largest resident set of the whole run) | \(Self.mib(last.memory.hwmKiB)) MiB |") }
    }

    /// Per phase: resident set at its start and end, its largest, and how it moved per minute.
    static func summary(_ series: [(second: Int, phase: String, memory: Memory)]) -> [String] {
        var lines = ["| phase | seconds | VmRSS first / last / largest (MiB) | change per minute over the phase (MiB) |", "| --- | --- | --- | --- |"]
        var phases: [String] = []
        for point in series where !phases.contains(point.phase) { phases.append(point.phase) }
        for phase in phases {
            let points = series.filter { $0.phase == phase }
            guard let first = points.first, let last = points.last, let largest = points.map(\.memory.rssKiB).max() else { continue }
            // Least-squares slope of the resident set against time, from the second half of the
            // phase (after start-up and after the broker came and went).
            let tail = points.suffix(max(2, points.count / 2))
            let n = Double(tail.count), sx = tail.reduce(0.0) { $0 + Double($1.second) }, sy = tail.reduce(0.0) { $0 + Double($1.memory.rssKiB) }
            let sxx = tail.reduce(0.0) { $0 + Double($1.second * $1.second) }, sxy = tail.reduce(0.0) { $0 + Double($1.second) * Double($1.memory.rssKiB) }
            let slope = n * sxx - sx * sx == 0 ? 0 : (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60
            lines.append("| \(phase) | \(points.count) | \(mib(first.memory.rssKiB)) / \(mib(last.memory.rssKiB)) / \(mib(largest)) | \(String(format: "%+.2f", slope / 1024)) |")
        }
        return lines
    }

    static func mib(_ kib: Int) -> String { String(format: "%.1f", Double(kib) / 1024) }

    static func startBroker(folder: URL, port: Int) throws -> Process {
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
        usleep(300_000)
        return process
    }

    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<50 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
