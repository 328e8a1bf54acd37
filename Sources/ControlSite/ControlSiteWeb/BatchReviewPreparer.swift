import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Logging
import Synchronization

/// Reads ahead what a batch's page reads from every sample (its record hash, statistics, the
/// checks of the sites' records, the state strips and the chain walks), on a thread and
/// connection of its own, without the page's time budget: an ended batch a page could not show
/// in time, at once, and every ended batch whose record changed since it was last read, every
/// `prepare_interval`. The page then shows what was read for the record as it is
/// (`PreparedBatchReviews`); nothing read for an earlier version of the record is ever shown.
final class BatchReviewPreparer: Sendable {
    private let workers: DatabaseWorkers
    private let reader: PreparedBatchReviews.Reader
    private let specs: SpecCatalogue
    private let interval: Double?
    private let logger: Logger

    private struct State {
        /// Batches being read or waiting to be, each once.
        var pending: Set<Key> = []
        /// Why a batch could not be read, and when: the rounds leave it for an hour, a page says why.
        var failed: [Key: (reason: String, at: ContinuousClock.Instant)] = [:]
        /// Reads asked for by pages, cancelled when the pages stop.
        var tasks: [Key: Task<Void, Never>] = [:]
    }

    private struct Key: Hashable {
        var site: String
        var batch: String
    }

    private let state = Mutex(State())
    static let retryAfterFailure: Duration = .seconds(3600)

    init(connectionInfo: String, settings: WebSettings, specs: SpecCatalogue, logger: Logger) {
        reader = BatchReviewPage.Limits(settings).prepared(maxSamples: settings.preparedMaxSamples)
        self.specs = specs
        self.interval = settings.prepareIntervalSeconds
        self.logger = logger
        // One thread: preparing competes with ingest and the pages for the same cores.
        workers = DatabaseWorkers(connectionInfo: connectionInfo, name: "web-prepare",
                                  limits: .init(threads: 1, queue: 256, budgetSeconds: 6 * 3600), logger: logger)
    }

    /// Whether the batch is being read (or waits to be).
    func isPending(site: String, batch: String) -> Bool { state.withLock { $0.pending.contains(Key(site: site, batch: batch)) } }

    /// Why the batch's last reading failed, within the last hour.
    func failure(site: String, batch: String) -> String? {
        state.withLock { s in
            s.failed[Key(site: site, batch: batch)].flatMap { ContinuousClock.now - $0.at < Self.retryAfterFailure ? $0.reason : nil }
        }
    }

    /// Starts reading the batch unless it is being read already; returns at once.
    func request(site: String, batch: String) {
        let key = Key(site: site, batch: batch)
        state.withLock { s in
            guard s.tasks[key] == nil else { return }
            s.tasks[key] = Task { [self] in
                await prepare(key)
                _ = state.withLock { $0.tasks.removeValue(forKey: key) }
            }
        }
    }

    /// Reads ended batches not read for their record as it is, every interval, until cancelled.
    func run() async {
        guard let interval else { return }
        let reader = self.reader
        while !Task.isCancelled {
            do {
                let excluded = state.withLock { s in
                    s.failed.filter { ContinuousClock.now - $0.value.at < Self.retryAfterFailure }.keys.map { (site: $0.site, batch: $0.batch) }
                }
                let batches = try await workers.run { try PreparedBatchReviews.unprepared(reader: reader, limit: 20, excluding: excluded, on: $0) }
                for (site, batch) in batches where !Task.isCancelled { await prepare(Key(site: site, batch: batch)) }
            } catch {
                if !Task.isCancelled { logger.warning("ended batches to prepare could not be listed", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }

    /// Cancels the reads pages asked for, then stops the thread (its statement is cancelled).
    func stop() async {
        for task in state.withLock({ Array($0.tasks.values) }) { task.cancel() }
        await workers.stop(within: .seconds(2))
    }

    private func prepare(_ key: Key) async {
        guard state.withLock({ $0.pending.insert(key).inserted }) else { return }
        defer { _ = state.withLock { $0.pending.remove(key) } }
        let (site, batch) = (key.site, key.batch)
        let reader = self.reader, lookup = specs.lookup
        let clock = ContinuousClock(), began = clock.now
        do {
            let read = try await workers.run { connection, budget -> Bool in
                // Instances serving pages from one database read each batch once: the one that holds it reads it.
                let lock = [site + "\u{1f}" + batch]
                guard try connection.execute("SELECT pg_try_advisory_lock(7146358, hashtext($1)) AS held", lock).bool(0, "held") == true else {
                    return false
                }
                defer { _ = try? connection.execute("SELECT pg_advisory_unlock(7146358, hashtext($1))", lock) }
                _ = try BatchRecordDigest.current(site: site, batch: batch, on: connection)
                _ = try PreparedBatchReviews.parts(site: site, batch: batch, specs: { try lookup.ran($0, on: connection) }, reader: reader,
                                                   checkpoint: budget.check, on: connection)
                _ = try ChainCoverage.segments(site: site, batch: batch, keptWalks: true, on: connection)
                return true
            }
            guard read else { return }
            _ = state.withLock { $0.failed.removeValue(forKey: key) }
            logger.info("batch page prepared", metadata: [
                "site": "\(site)", "batch": "\(batch)", "seconds": "\(Double((clock.now - began).nanoseconds) / 1e9)",
            ])
        } catch {
            // Stopping is not a failure of the batch's.
            if case DatabaseWorkers.Refusal.stopping = error { return }
            if case DatabaseWorkers.Refusal.cancelled = error { return }
            state.withLock { $0.failed[key] = ("\(error)", .now) }
            logger.warning("batch page not prepared", metadata: ["site": "\(site)", "batch": "\(batch)", "error": "\(error)"])
        }
    }
}
