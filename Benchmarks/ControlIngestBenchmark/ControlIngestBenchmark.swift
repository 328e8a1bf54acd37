import ArgumentParser
import ControlSiteRecords
import POCareContract
import ControlSiteLink
import Foundation
import POCareConfig
import Logging
import POCareCore
import SiteStore
import Synchronization

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
    @Flag(help: "Samples without chain hashes (nothing to recompute), to see what recomputing every hash costs.") var withoutHashes = false
    @Option(help: "Rounds of ingest and bare COPY, each into fresh databases; the medians are printed (a shared machine's load moves single runs).")
    var rounds = 1

    func run() throws {
        let cluster = database == nil ? try TemporaryCluster() : nil
        let info = database ?? cluster!.connectionInfo
        let logger = Logger(label: "bench")
        let connection = try PostgresConnection(info)
        try ControlSchema.migrate(connection, logger: logger)

        // The backlog, encoded before the clock starts: devices interleaved, as a site drains them.
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        // Parameters of the stirred tank's profile: ingest takes only values a device's metadata names.
        let parameters = ["temperature", "ph", "dissolved_oxygen", "co2", "agitation", "glucose", "lactate", "viability"]
        try announce(devices: devices, on: connection, logger: logger)
        var payloads: [(String, [UInt8])] = []
        payloads.reserveCapacity(devices * samples / perMessage + devices)
        // Chained as a site store chains them, so ingest recomputes every sample's hash.
        var hasher = RecordChain.Hasher()
        var heads = [String](repeating: RecordChain.genesis, count: devices)
        for first in stride(from: 1, through: samples, by: perMessage) {
            for d in 0..<devices {
                let device = "bioreactor-\(d + 1)"
                let batch = (first..<min(first + perMessage, samples + 1)).map { seq in
                    let context = SampleContext(batchId: "B-\(d + 1)", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "a", count: 64))
                    let values = readings(parameters, seq)
                    let ns = Int64(start.timeIntervalSince1970 + Double(seq)) * 1_000_000_000
                    let stream = StreamName.telemetry(device: device)
                    let previous = heads[d]
                    heads[d] = hasher.sample(
                        previous: previous, stream: stream.description, seq: Int64(seq), device: device, timeNanoseconds: ns, cycle: Int64(seq),
                        batch: context.batchId, phase: context.phase, spec: context.specFingerprint,
                        parameters: values.map(\.parameterId).joined(separator: ","), readings: SampleCodec.encode(values))
                    var sample = StoredSample(
                        stream: stream, seq: Int64(seq), device: device, time: Date(timeIntervalSince1970: Double(ns) / 1e9),
                        cycle: Int64(seq), context: context, readings: values,
                        hash: withoutHashes ? nil : heads[d], previousHash: withoutHashes ? nil : previous)
                    sample.timeNanoseconds = ns
                    return sample
                }
                payloads.append(("pocare/v1/site-bench/\(device)/telemetry",
                                 Contract.telemetry(site: "site-bench", device: device, samples: batch[...], sent: start)))
            }
        }
        let total = devices * samples
        print("backlog: \(devices) devices × \(samples) samples = \(total) samples in \(payloads.count) messages "
              + "(\(payloads.reduce(0) { $0 + $1.1.count } / 1_048_576) MiB of JSON)")

        let (inserted, seconds, ingestCPU) = try ingest(payloads, info: info, logger: logger)
        let proof = try connection.execute("""
            SELECT (SELECT count(*) FROM samples WHERE time_ns IS NOT NULL) AS recomputed, (SELECT count(*) FROM records_set_aside) AS set_aside
            """)
        print("hashes recomputed on arrival: \(proof.int(0, "recomputed") ?? 0) samples stored as recomputed, \(proof.int(0, "set_aside") ?? 0) set aside")
        print("ingested \(inserted) samples in \(String(format: "%.1f", seconds)) s: \(Int(Double(inserted) / seconds)) samples/s "
              + "(one instance, \(writers) writers, \(batchMessages) messages per transaction; goal ≥ 50,000)")
        let size = try connection.execute("SELECT pg_size_pretty(pg_database_size(current_database())) AS size").string(0, "size") ?? "?"
        print("database size: \(size) (\(String(format: "%.0f", Double(try connection.execute("SELECT pg_database_size(current_database()) AS bytes").int(0, "bytes") ?? 0) / Double(max(inserted, 1)))) bytes per sample)")
        try resend(payloads.prefix(2000), info: info, logger: logger)
        try compactAndMeasure(samples: inserted, on: connection, logger: logger)

        let (bare, bareCPU) = try bareCopy(payloads, info: info, logger: logger)
        var rates = [Double(inserted) / seconds], bares = [bare], cpuRatios = [bareCPU.total / ingestCPU.total * 100]
        print(roundText(1, rates[0], bares[0]) + cpuText(ingestCPU, bareCPU, samples: inserted))
        for round in stride(from: 2, through: rounds, by: 1) {
            let again = try freshDatabase("ingest_again", admin: connection, info: info, logger: logger)
            try announce(devices: devices, on: try PostgresConnection(again), logger: logger)
            let (stored, took, roundCPU) = try ingest(payloads, info: again, logger: logger)
            guard stored == inserted else { throw BenchmarkFailure(message: "round \(round) stored \(stored) of \(inserted) samples") }
            let (bare, bareCPU) = try bareCopy(payloads, info: info, logger: logger)
            rates.append(Double(stored) / took)
            bares.append(bare)
            cpuRatios.append(bareCPU.total / roundCPU.total * 100)
            print(roundText(round, rates[round - 1], bares[round - 1]) + cpuText(roundCPU, bareCPU, samples: stored))
        }
        if rounds > 1 {
            let ratios = zip(rates, bares).map { $0 / $1 * 100 }
            print("median of \(rounds) rounds: ingest \(Int(median(rates))) samples/s, bare COPY \(Int(median(bares))) samples/s, "
                  + "ingest at \(Int(median(ratios).rounded())) % of bare COPY (rounds: \(ratios.map { "\(Int($0.rounded())) %" }.joined(separator: ", ")); goal ≥ 50 %); "
                  + "by CPU time per sample \(Int(median(cpuRatios).rounded())) % (rounds: \(cpuRatios.map { "\(Int($0.rounded())) %" }.joined(separator: ", ")))")
        }
        _ = cluster
    }

    /// CPU time per sample of ingest and of the bare COPY: steady where a shared machine's wall clock is not.
    func cpuText(_ ingest: ClusterCPU.Used, _ bare: ClusterCPU.Used, samples: Int) -> String {
        let n = Double(max(samples, 1)) / 1e6
        return String(format: "; CPU per sample: ingest %.1f µs (this process %.1f, PostgreSQL %.1f), bare COPY %.1f µs (%.1f, %.1f)",
                      ingest.total / n, ingest.client / n, ingest.server / n, bare.total / n, bare.client / n, bare.server / n)
    }

    func roundText(_ round: Int, _ rate: Double, _ bare: Double) -> String {
        "round \(round): bare COPY of the same rows into the same tables, no checks: \(Int(bare)) samples/s (\(writers) connections, "
            + "\(batchMessages) messages per transaction); ingest \(Int(rate)) samples/s is \(Int((rate / bare * 100).rounded())) % of it (goal ≥ 50 %)"
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Parsed on this thread and written by the writers, as the MQTT thread and the writers of
    /// `pocare-control run` share the work; returns the samples stored and the seconds taken.
    func ingest(_ payloads: [(String, [UInt8])], info: String, logger: Logger) throws -> (Int, Double, ClusterCPU.Used) {
        settle(info, logger: logger)
        let cpu = ClusterCPU()
        let clock = ContinuousClock()
        let began = clock.now
        let pipeline = IngestPipeline(database: info, writers: writers, batchMessages: batchMessages, queueCapacity: 4 * batchMessages * writers, logger: logger)
        for (topic, payload) in payloads {
            while !pipeline.waitForRoom(timeout: 1) {}
            pipeline.submit(.message(try ContractMessage.parse(topic: topic, payload: payload)))
        }
        // Everything submitted is written: the writers keep at it as long as the database answers.
        pipeline.close(retryingFor: .seconds(3600))
        pipeline.waitUntilFinished()
        let elapsed = clock.now - began
        return (pipeline.currentStatistics.inserted, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, cpu.read())
    }

    /// Writes out what earlier steps left in the database's buffers before a timed step starts,
    /// so that ingest and the bare `COPY` each pay for their own writes only: without it, the
    /// step after a large one (the second round's ingest after the first round's `COPY`) ran
    /// while the cluster flushed the other's pages, in its time and in its CPU.
    func settle(_ info: String, logger: Logger) {
        do {
            try PostgresConnection(info).execute("CHECKPOINT")
        } catch {
            logger.warning("no CHECKPOINT before the timed step (it needs the pg_checkpoint role): \(error)")
        }
    }

    /// A freshly migrated database of the cluster, dropped first if an earlier round left it.
    func freshDatabase(_ name: String, admin: PostgresConnection, info: String, logger: Logger) throws -> String {
        try admin.execute("DROP DATABASE IF EXISTS \(name)")
        try admin.execute("CREATE DATABASE \(name)")
        let fresh = info.replacingOccurrences(of: "dbname=postgres", with: "dbname=\(name)")
        guard fresh != info else { throw BenchmarkFailure(message: "rounds need a connection string with dbname=postgres") }
        try ControlSchema.migrate(try PostgresConnection(fresh), logger: logger)
        return fresh
    }

    /// A resend of the first messages, as after a consumer restart: each copy checked and dropped.
    func resend(_ messages: ArraySlice<(String, [UInt8])>, info: String, logger: Logger) throws {
        let clock = ContinuousClock()
        let again = clock.now
        let resend = IngestPipeline(database: info, writers: writers, batchMessages: batchMessages, queueCapacity: 4 * batchMessages * writers, logger: logger)
        for (topic, payload) in messages {
            while !resend.waitForRoom(timeout: 1) {}
            resend.submit(.message(try ContractMessage.parse(topic: topic, payload: payload)))
        }
        resend.close(retryingFor: .seconds(3600))
        resend.waitUntilFinished()
        let duplicates = resend.currentStatistics.duplicates
        let dupElapsed = clock.now - again
        let dupSeconds = Double(dupElapsed.components.seconds) + Double(dupElapsed.components.attoseconds) / 1e18
        print("resend of \(duplicates) samples checked and dropped: \(Int(Double(duplicates) / dupSeconds)) samples/s")
    }

    /// What the database alone needs for the rows ingest stores: the same sample rows, as COPY
    /// text made before the clock starts, copied straight into `samples` of a freshly migrated
    /// database on as many connections and in transactions as large as ingest's, with none of
    /// ingest's checks (no staging, duplicate check, chain links, stream progress or batch runs).
    func bareCopy(_ payloads: [(String, [UInt8])], info: String, logger: Logger) throws -> (Double, ClusterCPU.Used) {
        let bareInfo = try freshDatabase("bare_copy", admin: try PostgresConnection(info), info: info, logger: logger)
        var batches: [[UInt8]] = []
        var group: [RecordMessage] = []
        var months = Set<String>()
        for (topic, payload) in payloads {
            if case .records(let records) = try ContractMessage.parse(topic: topic, payload: payload) {
                group.append(records)
                for sample in [records.samples.first, records.samples.last].compactMap({ $0 }) { months.insert(String(sample.time.prefix(7))) }
            }
            if group.count == batchMessages { batches.append(IngestWriter.sampleRows(group).bytes); group = [] }
        }
        // The same month partitions ingest makes before its transactions, so both write the same tables.
        let admin = try PostgresConnection(bareInfo)
        for month in months.sorted() {
            try admin.execute("SELECT samples_month_partition(($1 || '-01T00:00:00Z')::timestamptz)", [month])
        }
        if !group.isEmpty { batches.append(IngestWriter.sampleRows(group).bytes) }
        let copies = batches, rows = devices * samples
        settle(bareInfo, logger: logger)
        let cpu = ClusterCPU()
        let next = Mutex(0)
        let failure = Mutex<String?>(nil)
        let clock = ContinuousClock()
        let began = clock.now
        DispatchQueue.concurrentPerform(iterations: writers) { _ in
            do {
                let connection = try PostgresConnection(bareInfo)
                while true {
                    let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                    guard index < copies.count else { return }
                    try connection.transaction {
                        try connection.copy("COPY samples (\(IngestWriter.sampleColumns)) FROM STDIN", data: copies[index])
                    }
                }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }
        let elapsed = clock.now - began
        let used = cpu.read()
        if let message = failure.withLock({ $0 }) { throw BenchmarkFailure(message: "bare COPY: \(message)") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let copied = try PostgresConnection(bareInfo).execute("SELECT count(*) AS n FROM samples").int(0, "n") ?? 0
        guard copied == rows else { throw BenchmarkFailure(message: "bare COPY stored \(copied) of \(rows) rows") }
        return (Double(copied) / seconds, used)
    }
}

/// What a site publishes before its records: each device's metadata and a birth naming them.
func announce(site: String = "site-bench", devices: Int, batch: (Int) -> String = { "B-\($0 + 1)" },
              on connection: PostgresConnection, logger: Logger) throws {
    let loaded = ProfileLoader.load(path: "DeviceProfiles/stirred-tank-str10.yaml")
    guard let profile = loaded.profile else { throw BenchmarkFailure(message: "run from the package root: \(loaded.diagnostics)") }
    let writer = try IngestWriter(connection: connection, logger: logger)
    var messages: [IngestWriter.Item] = []
    var statuses: [Contract.DeviceStatus] = []
    for d in 0..<devices {
        let device = "bioreactor-\(d + 1)"
        let meta = Contract.DeviceMetadata(device: device, profile: profile, profileFingerprint: ProfileFingerprint.of(profile))
        messages.append(.message(try ContractMessage.parse(topic: "pocare/v1/\(site)/\(device)/meta", payload: meta.message(site: site).payload)))
        statuses.append(.init(id: device, profile: profile.id, batch: batch(d), phase: "expansion", spec: nil, reachable: true))
    }
    let birth = Contract.status(site: site, online: true, time: Date(), devices: statuses)
    messages.append(.message(try ContractMessage.parse(topic: "pocare/v1/\(site)/status", payload: birth)))
    _ = try writer.write(messages)
}

struct BenchmarkFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }

/// A bioreactor's values as a site sends them: each parameter drifts slowly (over hours) and
/// carries a sensor's noise, read from a float32 register and kept as its shortest decimal, as
/// the site keeps such values (37.01735): seven significant digits that change from sample to
/// sample. Values that repeated every few minutes made any compression look better than real
/// data would let it be.
func readings(_ parameters: [String], _ seq: Int) -> [Reading] {
    parameters.enumerated().map { i, p in
        let drift = 0.5 * sin(Double(seq) / 3600 * 0.7 + Double(i))
        // SplitMix64 of (seq, parameter): noise of ±0.005, the same on every run.
        var z = UInt64(truncatingIfNeeded: seq) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let noise = (Double(z >> 11) / Double(1 << 53) - 0.5) / 100
        let register = Float(37 + Double(i) + drift + noise)
        return Reading(parameterId: p, value: .number(Double("\(register)") ?? Double(register)), quality: .good)
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

/// CPU time used by this process and by every PostgreSQL server process since it was made:
/// user and system time, which other tenants of a shared machine do not add to.
struct ClusterCPU {
    struct Used: Sendable {
        var client: Double
        var server: Double
        var total: Double { client + server }
    }

    private let client = CPUMeter.processCPU()
    private let server = Self.serverCPU()

    func read() -> Used { Used(client: CPUMeter.processCPU() - client, server: Self.serverCPU() - server) }

    /// Every server process's user and system time, and its ended children's: a backend whose
    /// connection closed is counted in the postmaster that reaped it.
    static func serverCPU() -> Double {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.reduce(0) { sum, entry in
            guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  stat.contains("(postgres)"), let close = stat.lastIndex(of: ")") else { return sum }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the name: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
            guard fields.count > 14 else { return sum }
            let ticks = fields[11...14].compactMap { Double($0) }.reduce(0, +)
            return sum + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
    }
}

extension ControlIngestBenchmark {
    /// Keeps the day as chunks, as `run` does once samples settle, and measures what is left:
    /// the whole database, and the part of it each table takes, per sample.
    func compactAndMeasure(samples: Int, on connection: PostgresConnection, logger: Logger) throws {
        let began = Date()
        let pass = try SampleCompaction(settledAfter: 0).run(on: connection, logger: logger)
        let took = Date().timeIntervalSince(began)
        // The rows' space is free for new rows once vacuumed; rewritten here so the file sizes show it.
        try connection.execute("VACUUM FULL samples")
        let n = Double(max(samples, 1))
        func bytes(_ pattern: String) throws -> Double {
            Double(try connection.execute("""
                SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ $1
                """, [pattern]).int(0, "bytes") ?? 0)
        }
        let database = Double(try connection.execute("SELECT pg_database_size(current_database()) AS bytes").int(0, "bytes") ?? 0)
        let chunks = try bytes("^sample_chunks"), rows = try bytes("^samples_"), minutes = try bytes("^sample_minutes$")
        print("kept as chunks: \(pass.records) samples in \(String(format: "%.1f", took)) s (\(Int(Double(pass.records) / max(took, 0.001))) samples/s, "
              + "each chunk proved against its rows)")
        print(String(format: "database after compaction: %.0f bytes per sample (goal ≤ 100): chunks %.1f, rows left %.1f, minute rollups %.1f, "
                     + "the rest (catalog, other tables, indexes) %.1f", database / n, chunks / n, rows / n, minutes / n,
                     (database - chunks - rows - minutes) / n))
        let columns = try connection.execute("""
            SELECT sum(coalesce(pg_column_size(value_reals), 0))::float8 AS v, sum(coalesce(pg_column_size(value_template), 0))::float8 AS vt,
                   sum(coalesce(pg_column_size("values"), 0))::float8 AS vx, sum(pg_column_size(hashes))::float8 AS h,
                   sum(coalesce(pg_column_size(offsets), 0) + coalesce(pg_column_size(offsets_ns), 0))::float8 AS t,
                   sum(pg_column_size(cycles))::float8 AS c, sum(coalesce(pg_column_size(quality), 0) + coalesce(pg_column_size(raw), 0))::float8 AS q,
                   count(*) AS chunks
            FROM sample_chunks
            """)
        print(String(format: "chunks' columns per sample (stored, compressed): values as reals %.1f, their templates %.1f, values kept as text %.1f, "
                     + "hashes %.1f, times %.1f, cycles %.1f, quality and raw %.1f; %.1f samples a chunk",
                     (columns.double(0, "v") ?? 0) / n, (columns.double(0, "vt") ?? 0) / n, (columns.double(0, "vx") ?? 0) / n,
                     (columns.double(0, "h") ?? 0) / n, (columns.double(0, "t") ?? 0) / n,
                     (columns.double(0, "c") ?? 0) / n, (columns.double(0, "q") ?? 0) / n, n / Double(max(columns.int(0, "chunks") ?? 1, 1))))
    }
}
