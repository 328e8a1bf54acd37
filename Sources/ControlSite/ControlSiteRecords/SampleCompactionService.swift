import Foundation
import Logging
import POCareCore
import ServiceLifecycle
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
                let pass = try compaction.run(takes: { [share] in share.takes($0) }, on: db, logger: logger)
                if pass.records > 0 {
                    logger.notice("settled samples kept as chunks", metadata: ["streams": "\(pass.streams)", "records": "\(pass.records)"])
                }
            } catch {
                logger.error("keeping settled samples as chunks failed; tried again next time", metadata: ["error": "\(error)"])
                connection = nil
            }
        }
    }
}
