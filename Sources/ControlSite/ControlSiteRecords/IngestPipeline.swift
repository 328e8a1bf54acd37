import Foundation
import Logging
import POCareCore
import Synchronization

/// The writing half of an instance: several writer threads, each with its own database
/// connection and queue. A stream always goes to the same writer, so its records stay in
/// order and two writers never wait for each other's row locks; the database uses a core per
/// writer, which is where ingest spends its time.
public final class IngestPipeline: Sendable {
    public struct Statistics: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        public var conflicts = 0
        public var rejected = 0
        /// Messages taken from the broker and never written: a stop that could not wait for the database.
        public var abandoned = 0
    }

    private let database: String
    /// The contract's topic root, for records held aside and parsed again when released.
    private let topicRoot: String
    private let batchMessages: Int
    private let logger: Logger
    private let queues: [IngestQueue]
    private let statistics = Mutex(Statistics())
    private let threads: [DedicatedThread]
    /// The monotonic time after which a writer stops retrying a database that is away (set by `close`).
    private let giveUpAt = Atomic<Int64>(.max)
    private let siteKeys: SiteKeyRegister
    private let sequenceJumpLimit: SequenceJumpLimit
    /// Per writer, when it last showed progress while holding messages (a write, or a turn of its
    /// retry loop); `idle` while it waits for messages. For the service watchdog.
    private let progress: [Progress]
    private static let idle = Int64.max

    private final class Progress: Sendable {
        private let stamp = Atomic<Int64>(IngestPipeline.idle)
        var at: Int64 { stamp.load(ordering: .relaxed) }
        func now() { stamp.store(MonotonicClock.now(), ordering: .relaxed) }
        func idle() { stamp.store(IngestPipeline.idle, ordering: .relaxed) }
    }

    /// Starts the writers; each connects on its own thread (and again whenever the connection is
    /// lost). The schema must be migrated already.
    public init(
        database: String, writers: Int, batchMessages: Int, queueCapacity: Int, topicRoot: String = "pocare/v1", logger: Logger,
        siteKeys: SiteKeyRegister = .open, sequenceJumpLimit: SequenceJumpLimit = .standard
    ) {
        self.siteKeys = siteKeys
        self.sequenceJumpLimit = sequenceJumpLimit
        self.database = database
        self.topicRoot = topicRoot
        self.batchMessages = batchMessages
        self.logger = logger
        let count = max(1, writers)
        queues = (0..<count).map { _ in IngestQueue(capacity: max(1, queueCapacity / count)) }
        threads = (0..<count).map { DedicatedThread(name: "ingest-writer-\($0)") }
        progress = (0..<count).map { _ in Progress() }
        for (index, thread) in threads.enumerated() {
            thread.start { [self] in run(queues[index], progress: progress[index]) }
        }
    }

    public var currentStatistics: Statistics { statistics.withLock { $0 } }
    public var queued: Int { queues.reduce(0) { $0 + $1.count } }

    /// Hands an item to the writer of its stream.
    public func submit(_ item: IngestWriter.Item) {
        queues[writerIndex(item)].append(item)
    }

    /// Waits up to `timeout` seconds until every writer has room; returns whether they have.
    public func waitForRoom(timeout: Double) -> Bool {
        queues.allSatisfy { $0.waitForRoom(timeout: timeout) }
    }

    /// No more items: the writers write what they hold, and stop retrying a database that is
    /// away after `limit` (what they could not write is counted as abandoned).
    public func close(retryingFor limit: Duration = .seconds(3)) {
        giveUpAt.store(MonotonicClock.now() + limit.nanoseconds, ordering: .relaxed)
        queues.forEach { $0.close() }
    }

    /// Blocks until every writer has finished (for the benchmark's own thread; tasks use `finished(within:)`).
    public func waitUntilFinished() { threads.forEach { $0.join() } }

    /// Suspends until every writer has finished, at most `limit`; whether they all did.
    public func finished(within limit: Duration) async -> Bool {
        var all = true
        for thread in threads { all = await thread.joined(within: limit) && all }
        return all
    }

    private func writerIndex(_ item: IngestWriter.Item) -> Int {
        guard queues.count > 1, case .message(.records(let m)) = item else { return 0 }
        // A stable hash (FNV-1a), so the same stream goes to the same writer in every run.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in m.site.utf8 + [0] + m.epoch.utf8 + [0] + m.stream.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(queues.count))
    }

    /// Whether every writer that holds messages has shown progress within `limit` (one blocked in a
    /// database call that never returns has not), and whether any is retrying.
    public func health(within limit: Duration) -> (stuck: Int, retrying: Int) {
        let now = MonotonicClock.now()
        var stuck = 0
        for writer in progress {
            let at = writer.at
            if at != Self.idle && now - at > limit.nanoseconds { stuck += 1 }
        }
        return (stuck, retrying.load(ordering: .relaxed))
    }

    /// Writers retrying a database that refuses or is away, now.
    private let retrying = Atomic<Int>(0)
    /// Transactions written, and the time they took: the database's latency as ingest sees it.
    private let writes = Atomic<Int>(0)
    private let writeNanoseconds = Atomic<Int64>(0)

    /// Transactions written so far and their total time in seconds.
    public var writeLatency: (count: Int, seconds: Double) {
        (writes.load(ordering: .relaxed), Double(writeNanoseconds.load(ordering: .relaxed)) / 1e9)
    }

    /// Attempts after which an error that may persist is taken as the batch's own (about 4 s of pauses).
    static let persistentAfter = 8

    private var givingUp: Bool { MonotonicClock.now() >= giveUpAt.load(ordering: .relaxed) }

    private func run(_ queue: IngestQueue, progress: Progress) {
        var writer: IngestWriter?
        while true {
            progress.idle()
            let items = queue.take(limit: batchMessages)
            if items.isEmpty { break }
            progress.now()
            var attempt = 0
            defer { if attempt > 0 { retrying.subtract(1, ordering: .relaxed) } }
            while true {
                if givingUp {
                    let dropped = items.count + queue.abandon()
                    statistics.withLock { $0.abandoned += dropped }
                    return
                }
                do {
                    if writer == nil {
                        writer = try IngestWriter(
                            connection: try PostgresConnection(database), logger: logger, topicRoot: topicRoot, siteKeys: siteKeys,
                            sequenceJumpLimit: sequenceJumpLimit)
                        if attempt > 0 { logger.info("reconnected to PostgreSQL") }
                    }
                    let started = MonotonicClock.now()
                    // An error that may come back every time for these messages is theirs after a few tries.
                    try writeSplittingBadItems(items, writer!, retried: attempt >= Self.persistentAfter)
                    writeNanoseconds.add(MonotonicClock.now() - started, ordering: .relaxed)
                    writes.add(1, ordering: .relaxed)
                    progress.now()
                    break
                } catch let error as PostgresError where error.kind == .connection || error.isRetryable {
                    if attempt == 0 { retrying.add(1, ordering: .relaxed) }
                    attempt += 1
                    if error.kind == .connection { writer = nil }
                    if attempt == 1 || attempt.isMultiple(of: 10) {
                        logger.error("cannot write to PostgreSQL; retrying the same messages", metadata: ["error": "\(error)"])
                    }
                    pause(milliseconds: min(5_000, 100 * attempt), progress: progress)
                } catch {
                    // Anything else is this software's own failure: say so, reconnect, keep trying.
                    if attempt == 0 { retrying.add(1, ordering: .relaxed) }
                    attempt += 1
                    logger.critical("ingest write failed", metadata: ["error": "\(error)"])
                    writer = nil
                    pause(milliseconds: min(5_000, 100 * attempt), progress: progress)
                }
            }
        }
    }

    /// Sleeps, in short steps, so a stop is not held up by a retry's wait (and the watchdog sees
    /// a retrying writer alive).
    private func pause(milliseconds: Int, progress: Progress) {
        let until = MonotonicClock.now() + Int64(milliseconds) * 1_000_000
        while MonotonicClock.now() < until && !givingUp {
            usleep(20_000)
            progress.now()
        }
    }

    /// Writes the batch; if the database rejects it for its content (one malformed record
    /// makes the whole COPY fail), writes each message alone and records the bad ones as findings.
    private func writeSplittingBadItems(_ items: [IngestWriter.Item], _ writer: IngestWriter, retried: Bool) throws {
        func refused(_ error: PostgresError) -> Bool {
            error.kind == .statement && (!error.isRetryable || (retried && error.mayPersist))
        }
        do {
            count(try writer.write(items))
        } catch let error as PostgresError where refused(error) && items.count > 1 {
            logger.warning("a batch was refused; writing its messages one by one", metadata: ["error": "\(error)"])
            for item in items { try writeSplittingBadItems([item], writer, retried: retried) }
        } catch let error as PostgresError where refused(error) {
            guard case .message(let message) = items[0] else { throw error }
            let (site, topic) = switch message {
            case .status(let s): (s.site, "\(s.site)/status")
            case .records(let r): (r.site, "\(r.site)/\(r.stream)")
            case .deviceMetadata(let m): (m.site, "\(m.site)/\(m.device)/meta")
            case .specDocument(let d): (d.site, "\(d.site)/specs/\(d.fingerprint.dropFirst(7))")
            }
            logger.warning("the database refused a message", metadata: ["message": "\(topic)", "error": "\(error)"])
            count(try writer.write([.rejected(.malformed(site: site, topic: topic, reason: error.message))]))
        }
    }

    private func count(_ outcome: IngestWriter.Outcome) {
        statistics.withLock {
            $0.inserted += outcome.inserted
            $0.duplicates += outcome.duplicates
            $0.conflicts += outcome.conflicts
            $0.rejected += outcome.rejected
        }
    }
}
