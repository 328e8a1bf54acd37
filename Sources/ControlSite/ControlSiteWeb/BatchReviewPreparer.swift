import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Logging
import Synchronization

/// Reads ahead what a batch's page reads from every sample (its record hash, statistics, the
/// checks of the sites' records and the state strips), on a thread and connection of its own,
/// without the page's time budget: the batch a page could not show in time, at once, and every
/// ended batch whose record changed since it was last read, every `prepare_interval`. The page
/// then shows what was read for the record as it is (`PreparedBatchReviews`); nothing prepared
/// for an earlier version of the record is ever shown.
final class BatchReviewPreparer: Sendable {
    private let workers: DatabaseWorkers
    private let reader: PreparedBatchReviews.Reader
    private let specs: SpecCatalogue
    private let interval: Double?
    private let logger: Logger
    /// Batches asked for and not yet prepared (`site` NUL `batch`), so each is read once at a time.
    private let pending = Mutex<Set<String>>([])
    /// Batches that could not be prepared: not tried again by the interval's round (a page asking still tries).
    private let failed = Mutex<Set<String>>([])

    init(connectionInfo: String, settings: WebSettings, specs: SpecCatalogue, logger: Logger) {
        var reader = BatchReviewPage.Limits(settings).prepared
        reader.series.maxSamples = settings.preparedMaxSamples
        self.reader = reader
        self.specs = specs
        self.interval = settings.prepareIntervalSeconds
        self.logger = logger
        // One thread: preparing competes with ingest and the pages for the same cores.
        workers = DatabaseWorkers(connectionInfo: connectionInfo, name: "web-prepare",
                                  limits: .init(threads: 1, queue: 256, budgetSeconds: 6 * 3600), logger: logger)
    }

    /// Starts preparing the batch unless it is being prepared already; returns at once.
    func request(site: String, batch: String) {
        Task { await prepare(site: site, batch: batch) }
    }

    /// Prepares ended batches not prepared for their record as it is, every interval, until cancelled.
    func run() async {
        guard let interval else { return }
        let reader = self.reader
        while !Task.isCancelled {
            do {
                let batches = try await workers.run { try PreparedBatchReviews.unprepared(reader: reader, limit: 50, on: $0) }
                for (site, batch) in batches where !Task.isCancelled && !failed.withLock({ $0.contains(site + "\u{0}" + batch) }) {
                    await prepare(site: site, batch: batch)
                }
            } catch {
                logger.warning("ended batches to prepare could not be listed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }

    func stop() async { await workers.stop(within: .seconds(2)) }

    func prepare(site: String, batch: String) async {
        let key = site + "\u{0}" + batch
        guard pending.withLock({ $0.insert(key).inserted }) else { return }
        defer { pending.withLock { _ = $0.remove(key) } }
        let reader = self.reader, lookup = specs.lookup, logger = self.logger
        let clock = ContinuousClock(), began = clock.now
        do {
            try await workers.run { connection, budget in
                _ = try BatchRecordDigest.current(site: site, batch: batch, on: connection)
                _ = try PreparedBatchReviews.parts(site: site, batch: batch, specs: { try lookup.ran($0, on: connection) }, reader: reader,
                                                   checkpoint: budget.check, on: connection)
                _ = try ChainCoverage.segments(site: site, batch: batch, keptWalks: true, on: connection)
            }
            failed.withLock { _ = $0.remove(key) }
            logger.info("batch page prepared", metadata: [
                "site": "\(site)", "batch": "\(batch)", "seconds": "\(Double((clock.now - began).nanoseconds) / 1e9)",
            ])
        } catch {
            failed.withLock { _ = $0.insert(key) }
            logger.warning("batch page not prepared", metadata: ["site": "\(site)", "batch": "\(batch)", "error": "\(error)"])
        }
    }
}
