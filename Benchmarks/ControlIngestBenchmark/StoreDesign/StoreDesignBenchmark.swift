import POCareContract
import ArgumentParser
import ControlSiteRecords
import Foundation
import SiteStore

#if canImport(Glibc)
import Glibc
#endif

/// `pocare-control-bench store-design`: the candidates for a compact record store, each loaded
/// with the same synthetic samples into its own database, measured for size, load and ingest
/// rate, de-duplication, and the reads of the pages and checks (docs/control-site.md, "A compact record store: measured, not built").
struct StoreDesignBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-design",
        abstract: "Candidate schemas for the Control Site's record store: bytes per sample, COPY and ingest rates, reads.",
        discussion: """
            Each candidate gets its own database: one loaded with a bare COPY of its final rows (size and the rate
            ingest is held against), one through the prototype ingest path (backlog messages with some withheld and
            replayed late, a resend with conflicting copies, live one-sample messages, compaction), then read.
            --network SITESxDEVICESxDAYS instead loads that network (chunks, bare COPY) and measures the page reads.
            Examples:
              pocare-control-bench store-design --devices 20 --samples 86400
              pocare-control-bench store-design --candidates chunks --network 10x10x30
            """)

    @Option(help: "Devices (one telemetry stream each).") var devices = 20
    @Option(help: "Samples per device in the backlog (86400: a day at 1 Hz).") var samples = 86_400
    @Option(help: "What the values look like: plausible, sawtooth, noise.") var shape: DataShape = .plausible
    @Option(help: "Candidates, comma-separated: \(DesignCandidate.allCases.map(\.rawValue).joined(separator: ", ")).")
    var candidates = DesignCandidate.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Samples per backlog message.") var perMessage = 200
    @Option(help: "Messages per transaction.") var batchMessages = 500
    @Option(help: "Percent of backlog messages withheld and delivered after the rest (replays filling gaps).") var withhold = 5
    @Option(help: "Backlog messages sent again after ingest (duplicates).") var resend = 2000
    @Option(help: "Of those, messages altered (a value changed and the chain re-hashed from there): conflicting copies.")
    var conflicts = 10
    @Option(help: "Live samples per device after the backlog, one per message.") var liveSamples = 300
    @Option(help: "Live messages per transaction.") var liveBatch = 100
    @Option(help: "Live transactions between compactions.") var compactEvery = 20
    @Option(help: "Runs of each read.") var repeats = 20
    @Option(help: "Load SITESxDEVICESxDAYS (for example 10x10x30) with chunks and measure the page reads at that size.")
    var network: String?
    @Option(help: "PostgreSQL connection string of a server where databases may be created (default: a temporary cluster).")
    var database: String?
    @Option(help: "Longest span of one chunk in seconds (a divisor of 60).") var chunkSeconds: Int64 = 60
    @Option(help: "How PostgreSQL keeps a chunk's arrays: inline (lz4, in the row) or extended (its default TOAST).")
    var chunkStorage: ChunkLayout.Storage = .inline
    @Flag(help: "Only the bare COPY and the size, no ingest and reads.") var bareOnly = false
    @Flag(help: "After loading today's schema, move its rows into chunks with the proof (counts and digests before and after).")
    var migrate = false
    @Flag(help: "Keep the databases afterwards.") var keep = false

    var layout: ChunkLayout { ChunkLayout(seconds: chunkSeconds, storage: chunkStorage) }

    func validate() throws {
        guard chunkSeconds > 0, 60 % chunkSeconds == 0 else { throw ValidationError("--chunk-seconds must divide 60") }
        guard devices > 0, samples > perMessage, perMessage > 0, batchMessages > 0, liveBatch > 0, compactEvery > 0, repeats > 0 else {
            throw ValidationError("--devices, --samples (more than --per-message), --per-message, --batch-messages, --live-batch, "
                                  + "--compact-every and --repeats must be positive")
        }
    }

    static let startNs: Int64 = 1_795_000_000_000_000_000

    func run() throws {
        let chosen = try candidates.split(separator: ",").map { name in
            guard let c = DesignCandidate(rawValue: String(name)) else { throw ValidationError("unknown candidate '\(name)'") }
            return c
        }
        let cluster = database == nil ? try TemporaryCluster() : nil
        let info = database ?? cluster!.connectionInfo
        let admin = try PostgresConnection(info)
        say("load before: \(Self.uptime())")
        try admin.execute("DROP DATABASE IF EXISTS design_empty")
        try admin.execute("CREATE DATABASE design_empty")
        let empty = try admin.execute("SELECT pg_database_size('design_empty')").int(0, 0) ?? 0
        try admin.execute("DROP DATABASE design_empty")
        say("an empty database: \(empty) bytes (catalogs), subtracted in the 'net' column")
        if let network {
            try NetworkBenchmark(spec: network, shape: shape, repeats: repeats, keep: keep, layout: layout, archive: database == nil).run(admin: admin, info: info, empty: empty)
            say("load after: \(Self.uptime())")
            _ = cluster
            return
        }

        let streams = (0..<devices).map { d in
            DesignStream(site: "site-bench", device: "bioreactor-\(d + 1)", siteId: 1, streamId: Int32(d + 1), contextId: Int32(d + 1),
                         context: .init(batchId: "B-\(d + 1)", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "a", count: 64)))
        }
        let clock = ContinuousClock(), generated = clock.now
        var backlog: [SampleColumns] = [], live: [SampleColumns] = []
        for s in streams {
            var generator = SampleGenerator(shape: shape, startNs: Self.startNs, seed: UInt64(s.streamId))
            backlog.append(generator.columns(s, seqs: 1...Int64(samples), previous: genesisHash))
            live.append(generator.columns(s, seqs: Int64(samples + 1)...Int64(samples + liveSamples), previous: Array(backlog.last!.hash(samples - 1))))
        }
        let total = devices * samples
        say("generated \(devices) streams × \(samples) samples (\(shape.rawValue)) + \(liveSamples) live each, "
              + "chained hashes, in \(Self.seconds(clock.now - generated)) s")
        let exact = backlog[0].values.filter { !$0.isNaN && DesignRows.isFloat32Exact($0) }.count
        say("values a float32 holds exactly: \(exact * 100 / max(1, backlog[0].values.filter { !$0.isNaN }.count)) %")

        // Parsing and hashing cost the same whatever the schema: measured once, on up to 200,000 samples.
        let cost = try ParseCost.measure(Array(backlog.prefix(max(1, 200_000 / max(samples, 1)))), perMessage: perMessage)
        say("before the database, one thread: JSON parse \(cost.parse.text); hash recompute \(cost.hash.text)")

        var results: [DesignResult] = []
        for candidate in chosen {
            var result = DesignResult(candidate: candidate, samples: total)
            try measureBare(candidate, backlog, streams, admin: admin, info: info, empty: empty, into: &result)
            if candidate != .today && !bareOnly {
                try measureIngest(candidate, backlog, live, streams, admin: admin, info: info, empty: empty, into: &result)
            }
            results.append(result)
            result.printDetail()
        }
        say("\n" + DesignResult.table(results))
        say("load after: \(Self.uptime())")
        _ = cluster
    }

    private func measureBare(_ candidate: DesignCandidate, _ backlog: [SampleColumns], _ streams: [DesignStream], admin: PostgresConnection,
                             info: String, empty: Int64, into result: inout DesignResult) throws {
        let name = "design_\(candidate.rawValue.replacingOccurrences(of: "-", with: "_"))_bare"
        let connection = try Self.freshDatabase(name, admin: admin, info: info)
        try DesignSchema.create(candidate, on: connection)
        try DesignSchema.createPartitions(candidate, covering: Self.range(backlog), layout: layout, on: connection)
        if candidate != .today { try DesignSchema.intern(streams, on: connection) }
        let meter = try CPUMeter(connection)
        let rows = try DesignBulkLoad.load(backlog, candidate: candidate, layout: layout, on: connection)
        result.bare = meter.read(samples: result.samples)
        result.bareRows = rows
        try connection.execute("VACUUM ANALYZE")
        result.bareSize = try DatabaseSize.measure(connection, empty: empty)
        if candidate == .today && migrate { try migrateToday(connection, backlog, streams, admin: admin, info: info, empty: empty) }
        if !keep { try admin.execute("DROP DATABASE \(name) WITH (FORCE)") }
    }

    private func measureIngest(_ candidate: DesignCandidate, _ backlog: [SampleColumns], _ live: [SampleColumns], _ streams: [DesignStream],
                               admin: PostgresConnection, info: String, empty: Int64, into result: inout DesignResult) throws {
        let name = "design_\(candidate.rawValue.replacingOccurrences(of: "-", with: "_"))_ingest"
        let connection = try Self.freshDatabase(name, admin: admin, info: info)
        try DesignSchema.create(candidate, on: connection)
        try DesignSchema.createPartitions(candidate, covering: Self.range(backlog + live), layout: layout, on: connection)
        try DesignSchema.intern(streams, on: connection)
        let ingest = try DesignIngest(connection: connection, candidate: candidate, streams: streams, layout: layout)
        let scenario = IngestScenario(perMessage: perMessage, batchMessages: batchMessages, withhold: withhold, resend: resend,
                                      conflicts: conflicts, liveBatch: liveBatch, compactEvery: compactEvery)
        try scenario.run(ingest, backlog: backlog, live: live, into: &result)
        try connection.execute("VACUUM ANALYZE")
        result.ingestSize = try DatabaseSize.measure(connection, empty: empty)
        try DesignChecks.run(connection, candidate: candidate, backlog: backlog, live: live, streams: streams, repeats: repeats, into: &result)
        if !keep { try admin.execute("DROP DATABASE \(name) WITH (FORCE)") }
    }

    private func migrateToday(_ source: PostgresConnection, _ backlog: [SampleColumns], _ streams: [DesignStream], admin: PostgresConnection,
                              info: String, empty: Int64) throws {
        let target = try Self.freshDatabase("design_migrated", admin: admin, info: info)
        try DesignSchema.create(.chunksHashes, on: target)
        try DesignSchema.createPartitions(.chunksHashes, covering: Self.range(backlog), on: target)
        try DesignSchema.intern(streams, on: target)
        let (rate, failed) = try LegacyMigration(source: source, target: target, streams: streams).run()
        say("migration of today's rows into chunks (every hash kept: today's times are milliseconds): \(rate.text)")
        say("proof per stream (count, first and last number, SHA-256 over the hashes and over the content, before and after): "
            + (failed.isEmpty ? "all \(streams.count) streams equal" : "\(failed.count) DIFFER: " + failed.joined(separator: "; ")))
        try target.execute("VACUUM ANALYZE")
        say("after migration: " + (try DatabaseSize.measure(target, empty: empty)).text(backlog.reduce(0) { $0 + $1.count }))
        if !keep { try admin.execute("DROP DATABASE design_migrated WITH (FORCE)") }
    }

    static func freshDatabase(_ name: String, admin: PostgresConnection, info: String) throws -> PostgresConnection {
        try admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try admin.execute("CREATE DATABASE \(name)")
        return try PostgresConnection(info.replacingOccurrences(of: "dbname=postgres", with: "dbname=\(name)"))
    }

    static func range(_ columns: [SampleColumns]) -> ClosedRange<Int64> {
        columns.compactMap { $0.timeNs.min() }.min()!...columns.compactMap { $0.timeNs.max() }.max()!
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    static func uptime() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)).map { "load average " + $0.split(separator: " ").prefix(3).joined(separator: " ") } ?? "?"
    }
}

/// Prints a line and flushes it, so progress shows as it happens also when written to a file.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
