import ArgumentParser
import ControlSiteRecords
import POCareContract
import ControlSiteLink
import Foundation
import Logging
import POCareCore
import SiteStore

#if canImport(Glibc)
import Glibc
#endif

/// Ingest rate of one pocare-control instance into PostgreSQL: a backlog of telemetry, as the
/// site's encoder writes it, parsed and written in batches exactly as `pocare-control run` does
/// (the broker is left out: its own limit is measured in the site's benchmark).
struct ControlIngestBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Control Site ingest into PostgreSQL: samples per second for one instance, from a backlog.",
        discussion: """
            Without --database it runs its own PostgreSQL cluster in a temporary folder (initdb, pg_ctl; as root
            through runuser -u postgres), with the server's default durability, and removes it afterwards.
            Example:
              pocare-control-bench --devices 20 --samples 86400
            """)

    @Option(help: "Devices in the backlog.") var devices = 20
    @Option(help: "Samples per device (86400: a day at 1 Hz).") var samples = 86_400
    @Option(help: "Samples per telemetry message (the site's telemetry_batch).") var perMessage = 200
    @Option(help: "Messages per transaction (control.yaml batch_messages).") var batchMessages = 500
    @Option(help: "Writer threads, each with its own connection (control.yaml writers).") var writers = 2
    @Option(help: "PostgreSQL connection string of an empty database (default: a temporary cluster).") var database: String?

    func run() throws {
        let cluster = database == nil ? try TemporaryCluster() : nil
        let info = database ?? cluster!.connectionInfo
        let logger = Logger(label: "bench")
        let connection = try PostgresConnection(info)
        try ControlSchema.migrate(connection, logger: logger)

        // The backlog, encoded before the clock starts: devices interleaved, as a site drains them.
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let parameters = ["temperature", "ph", "dissolved_oxygen", "co2", "agitation", "rocking_rate", "weight", "running_hours"]
        var payloads: [(String, [UInt8])] = []
        payloads.reserveCapacity(devices * samples / perMessage + devices)
        for first in stride(from: 1, through: samples, by: perMessage) {
            for d in 0..<devices {
                let device = "bioreactor-\(d + 1)"
                let batch = (first..<min(first + perMessage, samples + 1)).map { seq in
                    StoredSample(
                        stream: .telemetry(device: device), seq: Int64(seq), device: device, time: start.addingTimeInterval(Double(seq)),
                        cycle: Int64(seq), context: SampleContext(batchId: "B-\(d + 1)", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "a", count: 64)),
                        readings: readings(parameters, seq))
                }
                payloads.append(("pocare/v1/site-bench/\(device)/telemetry",
                                 Contract.telemetry(site: "site-bench", device: device, samples: batch[...], sent: start)))
            }
        }
        let total = devices * samples
        print("backlog: \(devices) devices × \(samples) samples = \(total) samples in \(payloads.count) messages "
              + "(\(payloads.reduce(0) { $0 + $1.1.count } / 1_048_576) MiB of JSON)")

        // Parsed on this thread and written by the writers, as the MQTT thread and the writers of
        // `pocare-control run` share the work.
        let clock = ContinuousClock()
        let began = clock.now
        let pipeline = IngestPipeline(database: info, writers: writers, batchMessages: batchMessages, queueCapacity: 4 * batchMessages * writers, logger: logger)
        for (topic, payload) in payloads {
            while !pipeline.waitForRoom(timeout: 1) {}
            pipeline.submit(.message(try ContractMessage.parse(topic: topic, payload: payload)))
        }
        pipeline.close()
        pipeline.waitUntilFinished()
        let elapsed = clock.now - began
        let inserted = pipeline.currentStatistics.inserted
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("ingested \(inserted) samples in \(String(format: "%.1f", seconds)) s: \(Int(Double(inserted) / seconds)) samples/s "
              + "(one instance, \(writers) writers, \(batchMessages) messages per transaction; goal ≥ 50,000)")
        let size = try connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").string(0, 0) ?? "?"
        print("database size: \(size) (\(String(format: "%.0f", Double(try connection.execute("SELECT pg_database_size(current_database())").int(0, 0) ?? 0) / Double(max(inserted, 1)))) bytes per sample)")
        // A resend of the first messages, as after a consumer restart: each copy checked and dropped.
        let again = clock.now
        let resend = IngestPipeline(database: info, writers: writers, batchMessages: batchMessages, queueCapacity: 4 * batchMessages * writers, logger: logger)
        for (topic, payload) in payloads.prefix(2000) {
            while !resend.waitForRoom(timeout: 1) {}
            resend.submit(.message(try ContractMessage.parse(topic: topic, payload: payload)))
        }
        resend.close()
        resend.waitUntilFinished()
        let duplicates = resend.currentStatistics.duplicates
        let dupElapsed = clock.now - again
        let dupSeconds = Double(dupElapsed.components.seconds) + Double(dupElapsed.components.attoseconds) / 1e18
        print("resend of \(duplicates) samples checked and dropped: \(Int(Double(duplicates) / dupSeconds)) samples/s")
        _ = cluster
    }
}

/// Plausible values that change from sample to sample, so nothing compresses unrealistically.
func readings(_ parameters: [String], _ seq: Int) -> [Reading] {
    parameters.enumerated().map { i, p in
        let drift: Double = Double(seq % 100) / 1000
        return Reading(parameterId: p, value: .number(37 + Double(i) + drift), quality: .good)
    }
}

/// A PostgreSQL cluster in a temporary folder for the length of the run.
final class TemporaryCluster {
    let directory: String
    let port: Int
    var connectionInfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    init() throws {
        directory = "/tmp/pocare-bench-pg-\(getpid())"
        mkdir(directory, 0o700)
        port = 20_000 + Int(getpid() % 20_000)
        if geteuid() == 0 { try Self.run("/bin/chown", ["postgres", directory]) }
        let bin = "/usr/lib/postgresql/\(((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).max() ?? 15)/bin"
        try asServerUser("\(bin)/initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
        try asServerUser("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "start",
                                           "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=8GB"])
        let data = "\(directory)/data"
        stop = { try? Self.runAs(bin: "\(bin)/pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]) }
    }

    private var stop: () -> Void = {}

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func asServerUser(_ tool: String, _ arguments: [String]) throws { try Self.runAs(bin: tool, arguments) }

    static func runAs(bin tool: String, _ arguments: [String]) throws {
        if geteuid() == 0 { try run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments) } else { try run(tool, arguments) }
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, tool, &actions, nil, argv, environ) == 0 else { throw ValidationError("cannot start \(tool)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw ValidationError("\(tool) \(arguments.joined(separator: " ")) failed") }
    }
}
