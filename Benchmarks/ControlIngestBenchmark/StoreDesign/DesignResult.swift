import POCareContract
import ControlSiteRecords
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time and CPU time of a load: of this process and of the server backend that did
/// the work (CPU time is steadier than wall-clock time on a shared machine).
struct Rate {
    var seconds = 0.0
    var clientCPU = 0.0
    var serverCPU: Double?
    var samples = 0
    var perSecond: Double { seconds > 0 ? Double(samples) / seconds : 0 }
    /// CPU time, here and in the server backend, per sample: steadier than the wall clock on a shared machine.
    var cpuMicroseconds: Double { samples > 0 ? (clientCPU + (serverCPU ?? 0)) * 1e6 / Double(samples) : 0 }

    var text: String {
        String(format: "%.0f samples/s (%.1f s; CPU %.1f s here, ", perSecond, seconds, clientCPU)
            + (serverCPU.map { String(format: "%.1f s", $0) } ?? "?") + String(format: " in the server: %.2f µs CPU per sample)", cpuMicroseconds)
    }
}

struct CPUMeter {
    private let backend: Int32
    private let started: ContinuousClock.Instant
    private let client: Double
    private let server: Double?

    init(_ connection: PostgresConnection) throws {
        backend = Int32(try connection.execute("SELECT pg_backend_pid()").int(0, 0) ?? 0)
        started = ContinuousClock.now
        client = Self.processCPU()
        server = Self.backendCPU(backend)
    }

    func read(samples: Int) -> Rate {
        let d = ContinuousClock.now - started
        return Rate(seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, clientCPU: Self.processCPU() - client,
                    serverCPU: Self.backendCPU(backend).flatMap { now in server.map { now - $0 } }, samples: samples)
    }

    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// utime + stime of a local process from /proc, in seconds; nil when the server is not local.
    static func backendCPU(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// The database's size by table family (partitions summed): heap, TOAST and indexes.
struct DatabaseSize {
    struct Family {
        var name: String
        var heap: Int64
        var toast: Int64
        var indexes: Int64
    }

    var total: Int64
    var empty: Int64
    var families: [Family]

    static func measure(_ connection: PostgresConnection, empty: Int64) throws -> DatabaseSize {
        let total = try connection.execute("SELECT pg_database_size(current_database())").int(0, 0) ?? 0
        let rows = try connection.execute("""
            SELECT regexp_replace(c.relname, '_[0-9]{4}_[0-9]{2}$', '') AS family,
                   sum(pg_table_size(c.oid) - coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)) AS heap,
                   sum(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)) AS toast,
                   sum(pg_indexes_size(c.oid)) AS indexes
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'
            GROUP BY 1 HAVING sum(pg_total_relation_size(c.oid)) > 65536 ORDER BY sum(pg_total_relation_size(c.oid)) DESC
            """)
        return DatabaseSize(total: total, empty: empty, families: rows.map {
            Family(name: $0.string("family")!, heap: $0.int("heap")!, toast: $0.int("toast")!, indexes: $0.int("indexes")!)
        })
    }

    func perSample(_ samples: Int) -> (whole: Double, net: Double) {
        (Double(total) / Double(max(samples, 1)), Double(total - empty) / Double(max(samples, 1)))
    }

    func text(_ samples: Int) -> String {
        let (whole, net) = perSample(samples)
        var lines = [String(format: "%.1f bytes/sample over the whole database (%.1f net of an empty database), %.1f MiB", whole, net,
                            Double(total) / 1_048_576)]
        for f in families {
            lines.append(String(format: "    %@: heap %.1f, TOAST %.1f, indexes %.1f bytes/sample", f.name,
                                Double(f.heap) / Double(samples), Double(f.toast) / Double(samples), Double(f.indexes) / Double(samples)))
        }
        return lines.joined(separator: "\n")
    }
}

/// Everything measured for one candidate.
struct DesignResult {
    var candidate: DesignCandidate
    var samples: Int
    var bare = Rate()
    var bareRows = 0
    var bareSize: DatabaseSize?
    var backlog = Rate()
    var replay = Rate()
    var resend = Rate()
    var live = Rate()
    var outcome = DesignIngest.Outcome()
    var expectedConflicts = 0
    var ingestSize: DatabaseSize?
    var ingestSamples = 0
    var checks: [String] = []
    var reads: [(String, Timing)] = []

    func printDetail() {
        say("\n== \(candidate.rawValue): \(candidate.summary)")
        say("bare COPY of \(bareRows) rows: \(bare.text)")
        if let bareSize { say(bareSize.text(samples)) }
        guard candidate != .today, ingestSamples > 0 else { return }
        say("ingest, backlog messages on time: \(backlog.text)")
        say(String(format: "ingest vs bare COPY: %.0f %% by the wall clock, %.0f %% by CPU time per sample", backlog.perSecond / max(bare.perSecond, 1) * 100,
                   bare.cpuMicroseconds / max(backlog.cpuMicroseconds, 1e-9) * 100))
        say("ingest, withheld messages replayed late (filling gaps): \(replay.text)")
        say("resend of duplicates: \(resend.text); conflicting copies found \(outcome.conflicts) of \(expectedConflicts) altered records")
        say("live, one sample per message: \(live.text)")
        say("ingest: \(outcome.inserted) inserted, \(outcome.duplicates) duplicates, \(outcome.staged) staged, \(outcome.chunkRows) chunk rows "
              + "written directly, \(outcome.gapsOpened) gaps opened, \(outcome.neighbourReads) neighbour reads for rollups")
        if let ingestSize { say("after ingest: " + ingestSize.text(ingestSamples)) }
        for c in checks { say("check: \(c)") }
        for (name, timing) in reads { say("read \(name): \(timing.text)") }
    }

    static func table(_ results: [DesignResult]) -> String {
        var lines = ["| candidate | bytes/sample bare (net) | bytes/sample after ingest (net) | bare COPY samples/s (µs CPU) | ingest samples/s (µs CPU) | ingest/bare wall (CPU) | replay samples/s | resend samples/s | live samples/s |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in results {
            let bare = r.bareSize.map { String(format: "%.1f (%.1f)", $0.perSample(r.samples).whole, $0.perSample(r.samples).net) } ?? "-"
            let ingested = r.ingestSize.map { String(format: "%.1f (%.1f)", $0.perSample(r.ingestSamples).whole, $0.perSample(r.ingestSamples).net) } ?? "-"
            let none = r.candidate == .today || r.ingestSamples == 0
            let bareRate = String(format: "%.0f (%.2f)", r.bare.perSecond, r.bare.cpuMicroseconds)
            let ingestRate = String(format: "%.0f (%.2f)", r.backlog.perSecond, r.backlog.cpuMicroseconds)
            let ratio = String(format: "%.0f %% (%.0f %%)", r.backlog.perSecond / max(r.bare.perSecond, 1) * 100,
                               r.bare.cpuMicroseconds / max(r.backlog.cpuMicroseconds, 1e-9) * 100)
            lines.append("| \(r.candidate.rawValue) | \(bare) | \(ingested) | \(bareRate) | "
                         + (none ? "- | - | - | - | - |" : "\(ingestRate) | \(ratio) | \(Int(r.replay.perSecond)) | \(Int(r.resend.perSecond)) | \(Int(r.live.perSecond)) |"))
        }
        return lines.joined(separator: "\n")
    }
}
