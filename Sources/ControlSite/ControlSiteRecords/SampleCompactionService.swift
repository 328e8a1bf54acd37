import Foundation
import Logging
import POCareCore
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// Keeps settled samples as chunks while `run` ingests: a pass every `every`, on its own thread
/// and connection, over this instance's share of the sites. A pass that fails is logged and tried
/// at the next; nothing is lost by it (each stream's move is one transaction, proved before it
/// commits).
public final class SampleCompactionService: Service, Sendable {
    private let database: String
    private let every: Duration
    private let compaction: SampleCompaction
    private let logger: Logger
    private let share: IngestShare
    private let stopped = Atomic<Bool>(false)
    private let thread = DedicatedThread(name: "sample-compaction")
    /// What the passes have done, for the metrics: whether compaction keeps up is the first
    /// limit of an instance as its sites grow (docs/control-site.md, "Beyond one database server").
    private let done = Mutex(Done())

    struct Done {
        var passes = 0
        var failures = 0
        var records: Int64 = 0
        var lastPassSeconds: Double?
    }

    public init(database: String, every: Duration, compaction: SampleCompaction, logger: Logger, share: IngestShare = .everySite) {
        self.database = database
        self.every = every
        self.compaction = compaction
        self.logger = logger
        self.share = share
    }

    public func run() async {
        thread.start { [self] in loop() }
        try? await gracefulShutdown()
        stopped.store(true, ordering: .relaxed)
        _ = await thread.joined(within: .seconds(5))
    }

    /// Passes, failures and samples kept as chunks by this instance, and how long the last pass
    /// took: passes are `every` apart, so a pass as long as that is half the capacity in use, and
    /// one that keeps growing is compaction falling behind.
    public func metricFamilies() -> [MetricFamily] {
        let d = done.withLock { $0 }
        return [
            MetricFamily("pocare_control_compaction_passes_total", .counter, help: "Compaction passes this instance finished.",
                         samples: [.init(Double(d.passes))]),
            MetricFamily("pocare_control_compaction_failures_total", .counter, help: "Compaction passes that failed (tried again at the next).",
                         samples: [.init(Double(d.failures))]),
            MetricFamily("pocare_control_compaction_records_total", .counter, help: "Samples this instance kept as chunks.",
                         samples: [.init(Double(d.records))]),
            MetricFamily("pocare_control_compaction_last_pass_seconds", .gauge,
                         help: "How long the last compaction pass took; as long as compact_every, half of compaction's capacity is in use.",
                         samples: d.lastPassSeconds.map { [.init($0)] } ?? []),
        ]
    }

    private func loop() {
        var connection: PostgresConnection?
        let pause = Double(every.components.seconds) + Double(every.components.attoseconds) / 1e18
        while !stopped.load(ordering: .relaxed) {
            // The first pass waits a period too: a restart does not start with the heaviest work.
            let until = Date().addingTimeInterval(pause)
            while !stopped.load(ordering: .relaxed) && Date() < until { usleep(200_000) }
            if stopped.load(ordering: .relaxed) { break }
            do {
                let db = try connection ?? PostgresConnection(database)
                connection = db
                let began = ContinuousClock.now
                let pass = try compaction.run(takes: { [share] in share.takes($0) }, on: db, logger: logger)
                let took = ContinuousClock.now - began
                done.withLock {
                    $0.passes += 1
                    $0.records += pass.records
                    $0.lastPassSeconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
                }
                if pass.records > 0 {
                    logger.notice("settled samples kept as chunks", metadata: ["streams": "\(pass.streams)", "records": "\(pass.records)"])
                }
            } catch {
                done.withLock { $0.failures += 1 }
                logger.error("keeping settled samples as chunks failed; tried again next time", metadata: ["error": "\(error)"])
                connection = nil
            }
        }
    }
}
