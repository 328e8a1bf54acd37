import CSQLite
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

/// The site's durable store: every sample, event and audit entry is committed here before it
/// may leave the site.
///
/// One writer thread owns the write connection. Producers enqueue; the writer commits in
/// groups: an idle writer commits as soon as a burst has arrived (`burstWindow` after its first
/// row: a sample and the events it raised), a busy one takes everything that queued while it
/// committed, so groups grow only under load (`commitRows` rows at once, `commitInterval` at
/// the latest; audit entries at once) and assigns each row the next sequence number of its stream inside the
/// committing transaction, so numbers are gap-free, never reused and continue across restarts.
/// A failed commit (a full disk) is rolled back and retried with the same rows; nothing that
/// was committed is touched.
///
/// Unchecked Sendable: the fields from `queue` to `onCommit` are guarded by `condition`'s
/// mutex; the writer-thread state below them is touched only by the writer thread (after
/// `init`, which runs before that thread starts).
public final class SiteStore: @unchecked Sendable {
    public enum Synchronous: String, Sendable { case full = "FULL", normal = "NORMAL" }

    public struct Settings: Sendable {
        public var path: String
        public var synchronous: Synchronous = .full
        /// The longest the first queued row waits before its commit begins; an idle writer
        /// begins after `burstWindow` already.
        public var commitInterval: Duration = .milliseconds(100)
        /// The quiet that ends a burst: an idle writer commits once no row has arrived for this
        /// long (a sample's events join it, and the samples of devices polled on the same beat
        /// share one sync instead of queuing behind one another's).
        public var burstWindow: Duration = .milliseconds(1)
        /// The longest an idle writer gathers a burst that keeps arriving.
        public var burstLimit: Duration = .milliseconds(5)
        /// How long a writer with a backlog (a tenth of `commitRows` waiting) gathers a group.
        public var loadWindow: Duration = .milliseconds(5)
        public var commitRows = 1000
        /// Delivered rows older than this are pruned; undelivered rows never are.
        public var retention: Duration = .seconds(30 * 86_400)
        /// Below this much free space the store alarm is raised.
        public var freeSpaceWarningBytes: Int64 = 512 << 20
        /// Below this, samples of devices without an active batch are thinned to one a minute.
        public var freeSpaceLimitBytes: Int64 = 64 << 20
        public var maintenanceInterval: Duration = .seconds(5)
        /// Rows held in memory while commits fail; beyond it the oldest samples are dropped (and audited).
        public var maxPendingRows = 1_000_000

        public init(path: String) { self.path = path }
    }

    /// The user the daemon runs as, for actions it takes itself.
    public let systemUser: String
    public let settings: Settings
    /// This store's identity, made when it was created: a store restored from a backup or
    /// made anew after a loss has another, so a reader knows its sequence numbers restarted.
    public private(set) var epoch = ""

    private enum Pending {
        case sample(
            device: String, time: Int64, cycle: Int64, context: SampleContext, parameters: [String], labels: SampleLabels?,
            readings: [UInt8])
        case event(EventRecord)
        case audit(AuditAction, time: Int64, completion: @Sendable (Result<AuditEntry, SQLiteError>) -> Void)
        case delivered(stream: String, seq: Int64)
        /// A signed checkpoint of every chain's head, committed as a `site/events` record.
        case checkpoint(site: String, reason: String, key: Ed25519.PrivateKey, publicKey: String)

        var countsAsRow: Bool {
            switch self {
            case .sample, .event, .audit, .checkpoint: true
            default: false
            }
        }
    }

    private let condition = MonotonicCondition()
    private var queue: [Pending] = []
    private var queuedRows = 0
    private var firstQueuedAt: Int64 = 0
    private var firstRowQueuedAt: Int64 = 0
    private var lastRowQueuedAt: Int64 = 0
    private var urgent = false
    private var stopping = false
    private var enqueuedCount: UInt64 = 0
    private var committedCount: UInt64 = 0
    private var lastCommitAt: Int64?
    private var commitsFailing = false
    private var diskFull = false
    private var committedRowsTotal: UInt64 = 0
    private var fileProblem: StoreFileProblem?
    private let writer = DedicatedThread(name: "store-writer")
    private var onCommit: (@Sendable ([CommittedRange]) -> Void)?
    /// Callers of `flush()` waiting for everything enqueued before their call to settle.
    private var flushWaiters: [(token: UInt64, target: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
    private var nextFlushToken: UInt64 = 0

    // Writer-thread state.
    private let file: StoreFile
    private let connection: SQLiteConnection
    private var lastSeq: [String: Int64] = [:]
    /// The hash of each stream's last record (the head of its chain).
    private var lastHash: [String: String] = [:]
    private var hasher = RecordChain.Hasher()
    private var lastAuditHash = AuditEntry.genesisHash
    private var layouts: [String: (parameters: [String], id: Int64, text: String)] = [:]
    private var labelSets: [String: (labels: SampleLabels, id: Int64)] = [:]
    private var statements: [String: SQLiteStatement] = [:]
    private var spaceLow = false
    private var thinning = false
    private var writeFailing = false
    private var lastKeptUnbatched: [String: Int64] = [:]
    private var droppedSamples = 0
    private var logger = Logger(label: "pocare.store")

    /// SQLite's page cache per connection, in KiB. Appending touches a few pages per stream and
    /// reading back is sequential, so a small cache serves both as fast as the default 2 MiB
    /// (`pocare-bench store`, `link`); with the default, each connection's cache grew with the
    /// store by 2 MiB, and the daemon's memory with it through a broker outage.
    public static let pageCacheKiB = 512

    /// Opens (creating or migrating) the store and starts its writer thread.
    ///
    /// Refuses a store it cannot write (read-only file or file system, no permission): a
    /// daemon that polls and alarms without committing would only seem to work. A full disk
    /// is the exception: the space guard handles it, and rows wait in memory.
    public init(settings: Settings) throws(SQLiteError) {
        self.settings = settings
        self.systemUser = Self.currentUser()
        let existed = FileManager.default.fileExists(atPath: settings.path)
        let marker = StoreIdentityMarker(storePath: settings.path)
        let rememberedEpoch = marker.read()
        file = try StoreFile(path: settings.path)
        try Self.requireWriteAccess(settings.path)
        connection = try SQLiteConnection(path: settings.path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = \(settings.synchronous.rawValue)")
        try connection.execute("PRAGMA foreign_keys = ON")
        try connection.execute("PRAGMA cache_size = -\(Self.pageCacheKiB)")
        try migrate()
        try loadState()
        guard let epoch = try connection.scalar("SELECT epoch FROM store_identity") else {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "the store has no identity row", sql: nil)
        }
        self.epoch = epoch
        try Self.proveWritable(connection, path: settings.path, logger: logger)
        if rememberedEpoch != epoch { marker.write(epoch: epoch, createdAt: Date()) }
        let notice = Self.identityNotice(
            existed: existed, remembered: rememberedEpoch, epoch: epoch, path: settings.path, user: systemUser)
        writer.start { [self] in
            runWriter()
            resumeFlushWaiters(all: true)
        }
        if let notice {
            // The first thing committed, before anything the daemon does.
            if notice.action != "store.created" {
                logger.critical("\(notice.reason ?? notice.action)", metadata: ["epoch": "\(epoch)", "path": "\(settings.path)"])
            }
            enqueue(.audit(notice, time: Date().nanosecondsSince1970) { _ in }, urgent: true)
        }
    }

    /// What the new store's first audit entry says about where it came from.
    static func identityNotice(existed: Bool, remembered: String?, epoch: String, path: String, user: String) -> AuditAction? {
        switch (existed, remembered) {
        case (false, .some(let lost)) where lost != epoch:
            return AuditAction(
                user: user, action: "store.lost", target: path,
                reason: "no store was found where store \(lost) existed; this is a new store, and its sequence numbers and audit chain start again",
                oldValue: "epoch=\(lost)", newValue: "epoch=\(epoch)")
        case (false, _):
            return AuditAction(user: user, action: "store.created", target: path, newValue: "epoch=\(epoch)")
        case (true, .some(let other)) where other != epoch:
            return AuditAction(
                user: user, action: "store.replaced", target: path,
                reason: "the store at this path is not the one last used here (\(other)): restored from a backup or copied in",
                oldValue: "epoch=\(other)", newValue: "epoch=\(epoch)")
        default:
            return nil
        }
    }

    /// The file and its folder (where SQLite keeps the WAL) must be writable; SQLite's own
    /// error for a read-only file system is only "unable to open database file".
    private static func requireWriteAccess(_ path: String) throws(SQLiteError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        for target in [path, directory] where access(target, W_OK) != 0 {
            throw SQLiteError(
                code: SQLITE_READONLY, message: "the store \(path) cannot be written: \(target): \(String(cString: strerror(errno)))", sql: nil)
        }
    }

    /// One small write at start: a store that cannot take it is refused with SQLite's reason.
    private static func proveWritable(_ connection: SQLiteConnection, path: String, logger: Logger) throws(SQLiteError) {
        do {
            try connection.execute("BEGIN IMMEDIATE")
            try connection.execute("UPDATE store_identity SET opened_ns = CAST((julianday('now') - 2440587.5) * 86400e9 AS INTEGER)")
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            if error.isDiskFull {
                logger.critical("the store's disk is full at start; rows wait in memory until there is room", metadata: ["path": "\(path)"])
                return
            }
            throw SQLiteError(code: error.code, message: "the store \(path) cannot be written: \(error.message)", sql: nil)
        }
    }

    static func currentUser() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "uid \(geteuid())" }
        return String(cString: name)
    }

    private func migrate() throws(SQLiteError) {
        let current = Int(try connection.scalar("PRAGMA user_version") ?? "0") ?? 0
        guard current <= Schema.version else {
            throw SQLiteError(
                code: SQLITE_ERROR,
                message: "store schema version \(current) is newer than this software (\(Schema.version)); refusing to open",
                sql: nil)
        }
        for version in current..<Schema.version {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                try connection.execute(Schema.migrations[version])
                try connection.execute("PRAGMA user_version = \(version + 1)")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    private func loadState() throws(SQLiteError) {
        let streams = try connection.prepare("SELECT stream, last_seq, head_hash FROM streams")
        while try streams.step() {
            let stream = streams.text(0) ?? ""
            lastSeq[stream] = streams.int64(1)
            if let head = streams.text(2) { lastHash[stream] = head }
        }
        if let hash = try connection.scalar("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") { lastAuditHash = hash }
    }

    /// Called on the writer thread after each commit with what became durable.
    public func setCommitHandler(_ handler: @escaping @Sendable ([CommittedRange]) -> Void) {
        condition.withLock { onCommit = handler }
    }

    // MARK: Producers (any thread)

    /// Queues a sample with the batch context and the enumeration labels it was taken under.
    public func append(_ sample: Sample, context: SampleContext, parameters: [String], labels: SampleLabels? = nil) {
        enqueue(.sample(
            device: sample.deviceId, time: sample.time.nanosecondsSince1970, cycle: Int64(sample.cycle), context: context,
            parameters: parameters, labels: labels, readings: SampleCodec.encode(sample.readings)))
    }

    public func append(_ event: EventRecord) { enqueue(.event(event)) }

    /// Commits a checkpoint of every chain, signed with the site's key, after everything
    /// appended before it (docs/site-store.md, "Checkpoints").
    public func checkpoint(site: String, reason: String, key: Ed25519.PrivateKey, publicKey: Ed25519.PublicKey) {
        enqueue(.checkpoint(site: site, reason: reason, key: key, publicKey: publicKey.description))
    }

    /// Advances a stream's delivered watermark (the publisher calls this on acknowledgement).
    /// Not urgent: a watermark lost in a crash only means records are sent again.
    public func markDelivered(stream: StreamName, through seq: Int64) {
        enqueue(.delivered(stream: stream.description, seq: seq))
    }

    /// Writes an audit entry and returns it once it is committed; throws if it could not be.
    /// An action must not take effect unless this returns.
    public func audit(_ action: AuditAction, at time: Date = Date()) async throws -> AuditEntry {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(.audit(action, time: time.nanosecondsSince1970) { continuation.resume(with: $0) }, urgent: true)
        }
    }

    /// Writes an audit entry for something the daemon itself noticed (a clock step), without
    /// waiting for the commit: nothing waits on it taking effect.
    public func auditNoticed(_ action: AuditAction, at time: Date = Date()) {
        enqueue(.audit(action, time: time.nanosecondsSince1970) { _ in }, urgent: true)
    }

    /// Waits until everything enqueued before the call is committed, or until `limit` has
    /// passed (commits that keep failing must not hold up a shutdown). Returns whether all of
    /// it was committed.
    @discardableResult
    public func flush(upTo limit: Duration = .seconds(3)) async -> Bool {
        let token = condition.withLock { () -> UInt64 in
            nextFlushToken += 1
            return nextFlushToken
        }
        let committed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let settled = condition.withLock { () -> Bool in
                urgent = true
                condition.broadcast()
                guard committedCount < enqueuedCount && !stopping else { return true }
                flushWaiters.append((token, enqueuedCount, continuation))
                return false
            }
            if settled {
                continuation.resume(returning: condition.withLock { committedCount >= enqueuedCount })
                return
            }
            // The deadline: whoever takes the waiter out of the list resumes it, exactly once.
            Task {
                try? await Task.sleep(for: limit)
                let expired = condition.withLock { () -> CheckedContinuation<Bool, Never>? in
                    guard let index = flushWaiters.firstIndex(where: { $0.token == token }) else { return nil }
                    return flushWaiters.remove(at: index).continuation
                }
                expired?.resume(returning: false)
            }
        }
        return committed
    }

    /// Resumes the `flush()` callers whose rows have settled (all of them once the store stops).
    private func resumeFlushWaiters(all: Bool = false) {
        let ready = condition.withLock { () -> [(CheckedContinuation<Bool, Never>, Bool)] in
            let everyone = all || stopping
            let ready = flushWaiters.filter { everyone || $0.target <= committedCount }
                .map { ($0.continuation, $0.target <= committedCount) }
            flushWaiters.removeAll { everyone || $0.target <= committedCount }
            return ready
        }
        for (continuation, committed) in ready { continuation.resume(returning: committed) }
    }

    /// Commits what is queued (one last attempt), stops the writer and closes the store.
    /// Bounded whatever the disk does: rows that cannot be committed are counted in the log.
    public func close() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
        resumeFlushWaiters(all: true)
        writer.join()
    }

    /// Rows waiting to be committed.
    public var pendingRows: Int { condition.withLock { queuedRows } }

    /// Whether the writer is doing its job: nothing waits, or the last commit is recent and
    /// commits are not failing. What the service watchdog asks before it pings.
    public struct Health: Sendable {
        public var pendingRows: Int
        public var lastCommit: Int64?
        public var failing: Bool
        /// Commits fail because the disk is full: the space guard's case, not a hang.
        public var diskFull: Bool
        public var committedRows: UInt64
        /// The file was deleted or replaced while open: nothing committed now will survive.
        public var fileProblem: StoreFileProblem?
    }

    public var health: Health {
        condition.withLock {
            Health(pendingRows: queuedRows, lastCommit: lastCommitAt, failing: commitsFailing, diskFull: diskFull,
                   committedRows: committedRowsTotal, fileProblem: fileProblem)
        }
    }

    /// A full disk is not unhealthy here: the daemon must go on polling, alarming and holding
    /// rows in memory (a restart would lose them). A writer that cannot commit for any other
    /// reason, or does not get round to it, is.
    public func isHealthy(now: Int64 = MonotonicClock.now(), maxCommitAge: Duration = .seconds(10)) -> Bool {
        let h = health
        // A store whose file is gone must not look alive: the watchdog stops, and systemd
        // restarts the daemon onto a store that exists.
        if h.fileProblem != nil { return false }
        if h.failing { return h.diskFull }
        if h.pendingRows == 0 { return true }
        return h.lastCommit.map { now - $0 < maxCommitAge.nanoseconds } ?? false
    }

    private func enqueue(_ item: Pending, urgent isUrgent: Bool = false) {
        let now = MonotonicClock.now()  // read outside the lock the writer takes
        condition.withLock {
            if stopping {
                if case .audit(_, _, let completion) = item {
                    completion(.failure(SQLiteError(code: SQLITE_MISUSE, message: "the store is closed", sql: nil)))
                }
                return
            }
            if queue.isEmpty { firstQueuedAt = now }
            queue.append(item)
            var firstRow = false
            if item.countsAsRow {
                queuedRows += 1
                firstRow = queuedRows == 1
                if firstRow { firstRowQueuedAt = now }
                lastRowQueuedAt = now
            }
            enqueuedCount += 1
            if isUrgent { urgent = true }
            if isUrgent || queuedRows >= settings.commitRows || queue.count == 1 || firstRow { condition.broadcast() }
        }
    }

    // MARK: Writer thread

    private func runWriter() {
        var nextMaintenance = MonotonicClock.now()
        var retryDelay: Int64 = 200_000_000
        while true {
            condition.lock()
            while queue.isEmpty && !stopping && MonotonicClock.now() < nextMaintenance {
                condition.wait(until: nextMaintenance)
            }
            // Rows that queued while the last commit ran are already past their limit: a busy
            // writer commits back to back, and its groups are what queued meanwhile. A real
            // backlog (a tenth of `commitRows` waiting) is grouped for up to `loadWindow`, as
            // fsyncs, not rows, are what limits ingest. A live site commits a burst once it has
            // been quiet for `burstWindow` (at most `burstLimit` after its first row), so the
            // devices polled on one beat share a sync. Delivered watermarks alone never cost a
            // sync of their own: they wait for rows, or for `commitInterval`.
            while !queue.isEmpty && queuedRows < settings.commitRows && !urgent && !stopping {
                let deadline: Int64
                if queuedRows == 0 {
                    deadline = firstQueuedAt + settings.commitInterval.nanoseconds
                } else if queuedRows >= max(1, settings.commitRows / 10) {
                    deadline = firstRowQueuedAt + min(settings.commitInterval, settings.loadWindow).nanoseconds
                } else {
                    deadline = min(
                        firstRowQueuedAt + min(settings.commitInterval, settings.burstLimit).nanoseconds,
                        lastRowQueuedAt + settings.burstWindow.nanoseconds)
                }
                if MonotonicClock.now() >= deadline { break }
                condition.wait(until: deadline)
            }
            let batch = queue
            let isStopping = stopping
            queue = []
            queuedRows = 0
            urgent = false
            condition.unlock()

            // Free space is checked before every commit (one statvfs), so the alarm is raised
            // and stored while there is still room, and keeps being checked while commits fail.
            checkFreeSpace()
            checkFile()
            if !batch.isEmpty {
                if commit(batch) {
                    retryDelay = 200_000_000
                } else {
                    requeue(batch)
                    if isStopping {
                        logger.critical("store closed with records that could not be committed", metadata: ["records": "\(pendingRows)"])
                        break
                    }
                    // A close() wakes the wait, so a shutdown never sits out a retry delay.
                    let retryAt = MonotonicClock.now() + retryDelay
                    condition.withLock {
                        while !stopping && MonotonicClock.now() < retryAt { condition.wait(until: retryAt) }
                    }
                    retryDelay = min(retryDelay * 2, 5_000_000_000)
                    continue
                }
            }
            if MonotonicClock.now() >= nextMaintenance {
                maintain()
                nextMaintenance = MonotonicClock.now() + settings.maintenanceInterval.nanoseconds
            }
            if isStopping && condition.withLock({ queue.isEmpty }) { break }
        }
        statements.removeAll()
        try? connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        logger.info("store closed", metadata: ["path": "\(settings.path)"])
    }

    /// Puts the rows of a failed commit back at the head of the queue. Audit entries are
    /// failed instead: their caller must not act without a committed record.
    private func requeue(_ batch: [Pending]) {
        var kept: [Pending] = []
        for item in batch {
            if case .audit(_, _, let completion) = item {
                completion(.failure(SQLiteError(code: SQLITE_FULL, message: "the audit entry could not be committed", sql: nil)))
                condition.withLock { committedCount += 1 }
                resumeFlushWaiters()
            } else {
                kept.append(item)
            }
        }
        condition.withLock {
            queue = kept + queue
            queuedRows = queue.filter(\.countsAsRow).count
            if queuedRows > settings.maxPendingRows {
                var excess = queuedRows - settings.maxPendingRows
                queue.removeAll { item in
                    guard excess > 0, case .sample = item else { return false }
                    excess -= 1
                    droppedSamples += 1
                    committedCount += 1  // settled: flush() must not wait for it
                    return true
                }
                logger.error("store cannot commit; dropped the oldest uncommitted samples", metadata: ["dropped_total": "\(droppedSamples)"])
                queuedRows = settings.maxPendingRows
            }
        }
        resumeFlushWaiters()
    }

    private func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached.reset() }
        let prepared = try connection.prepare(sql)
        statements[sql] = prepared
        return prepared
    }

    /// Commits one group in one transaction. Returns false (after rolling back) if it failed.
    private func commit(_ batch: [Pending]) -> Bool {
        var seqs = lastSeq
        var hashes = lastHash
        var auditHash = lastAuditHash
        var ranges: [String: (Int64, Int64)] = [:]
        var audited: [(AuditEntry, @Sendable (Result<AuditEntry, SQLiteError>) -> Void)] = []
        func next(_ stream: String) -> Int64 {
            let seq = (seqs[stream] ?? 0) + 1
            seqs[stream] = seq
            ranges[stream] = (ranges[stream]?.0 ?? seq, seq)
            return seq
        }
        /// Commits an event as the next record of its stream, in the chain.
        func insertEvent(_ event: EventRecord) throws(SQLiteError) {
            let insert = try statement(
                "INSERT INTO events (stream, seq, device, time_ns, kind, alarm, batch, phase, spec, body, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            let stream = event.stream.description
            let seq = next(stream)
            let timeNanoseconds = event.time.nanosecondsSince1970
            let hash = hasher.event(
                previous: hashes[stream] ?? RecordChain.genesis, stream: stream, seq: seq, device: event.device,
                timeNanoseconds: timeNanoseconds, kind: event.kind, alarm: event.alarm, batch: event.batchId, phase: event.phase,
                spec: event.specFingerprint, body: event.body)
            hashes[stream] = hash
            insert.bind(1, stream)
            insert.bind(2, seq)
            insert.bind(3, event.device)
            insert.bind(4, timeNanoseconds)
            insert.bind(5, event.kind)
            insert.bind(6, event.alarm)
            insert.bind(7, event.batchId)
            insert.bind(8, event.phase)
            insert.bind(9, event.specFingerprint)
            insert.bind(10, event.body)
            insert.bind(11, hash)
            try insert.run()
            if let change = event.stateChange { try apply(change, at: timeNanoseconds) }
        }
        do {
            try connection.execute("BEGIN IMMEDIATE")
            for item in batch {
                switch item {
                case .sample(let device, let time, let cycle, let context, let parameters, let labels, let readings):
                    if thinning && context.batchId == nil {
                        // Hard space limit: keep one sample a minute of devices without a batch.
                        if let kept = lastKeptUnbatched[device], time - kept < 60_000_000_000 { continue }
                        lastKeptUnbatched[device] = time
                    }
                    let layout = try layoutId(device: device, parameters: parameters)
                    let labelSet = try labels.map { labels throws(SQLiteError) in try labelSetId(device: device, labels: labels) }
                    let insert = try statement(
                        "INSERT INTO samples (stream, seq, device, time_ns, cycle, batch, phase, spec, layout, readings, hash, labels) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
                    let stream = StreamName.telemetry(device: device).description
                    let seq = next(stream)
                    let hash = hasher.sample(
                        previous: hashes[stream] ?? RecordChain.genesis, stream: stream, seq: seq, device: device, timeNanoseconds: time,
                        cycle: cycle, batch: context.batchId, phase: context.phase, spec: context.specFingerprint,
                        parameters: layout.text, readings: readings)
                    hashes[stream] = hash
                    insert.bind(1, stream)
                    insert.bind(2, seq)
                    insert.bind(3, device)
                    insert.bind(4, time)
                    insert.bind(5, cycle)
                    insert.bind(6, context.batchId)
                    insert.bind(7, context.phase)
                    insert.bind(8, context.specFingerprint)
                    insert.bind(9, layout.id)
                    insert.bind(10, blob: readings)
                    insert.bind(11, hash)
                    if let labelSet { insert.bind(12, labelSet) } else { insert.bind(12, nil as String?) }
                    try insert.run()
                case .event(let event):
                    try insertEvent(event)
                case .checkpoint(let site, let reason, let key, let publicKey):
                    // Every chain's head as this transaction leaves it, audit trail included.
                    var chains: [Checkpoint.Chain] = []
                    for (stream, seq) in seqs where seq > 0 {
                        guard let hash = stream == StreamName.audit.description ? auditHash : hashes[stream] else { continue }
                        chains.append(Checkpoint.Chain(stream: stream, seq: seq, hash: hash, prunedThrough: try prunedThrough(stream, head: seq)))
                    }
                    let now = Date()
                    let checkpoint = Checkpoint(
                        site: site, epoch: epoch, reason: reason, signedNanoseconds: now.nanosecondsSince1970, key: publicKey, chains: chains)
                    let body: String
                    do { body = try checkpoint.signed(with: key) } catch {
                        logger.error("cannot sign a checkpoint; records stay unsigned until the next", metadata: ["error": "\(error)"])
                        continue
                    }
                    try insertEvent(EventRecord(stream: .siteEvents, device: "site", time: now, kind: Checkpoint.eventKind, body: body))
                case .audit(let action, let time, let completion):
                    let seq = next(StreamName.audit.description)
                    let hash = AuditEntry.hash(seq: seq, timeNanoseconds: time, action: action, previousHash: auditHash)
                    let insert = try statement(
                        "INSERT INTO audit (seq, time_ns, user, action, target, reason, old_value, new_value, previous_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)")
                    insert.bind(1, seq)
                    insert.bind(2, time)
                    insert.bind(3, action.user)
                    insert.bind(4, action.action)
                    insert.bind(5, action.target)
                    insert.bind(6, action.reason)
                    insert.bind(7, action.oldValue)
                    insert.bind(8, action.newValue)
                    insert.bind(9, auditHash)
                    insert.bind(10, hash)
                    try insert.run()
                    audited.append((AuditEntry(
                        seq: seq, time: Date(nanosecondsSince1970: time), timeNanoseconds: time, action: action,
                        previousHash: auditHash, hash: hash), completion))
                    auditHash = hash
                case .delivered(let stream, let seq):
                    let update = try statement(
                        "UPDATE streams SET delivered_seq = max(delivered_seq, min(?, last_seq)) WHERE stream = ?")
                    update.bind(1, seq)
                    update.bind(2, stream)
                    try update.run()
                }
            }
            let upsert = try statement("""
                INSERT INTO streams (stream, last_seq, head_hash) VALUES (?, ?, ?)
                ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq, head_hash = excluded.head_hash
                """)
            for (stream, range) in ranges {
                upsert.reset()
                upsert.bind(1, stream)
                upsert.bind(2, range.1)
                upsert.bind(3, stream == StreamName.audit.description ? auditHash : hashes[stream])
                try upsert.run()
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            layouts.removeAll()  // a rolled-back layout or label set row must be written again
            labelSets.removeAll()
            let full = error.isDiskFull
            condition.withLock {
                commitsFailing = true
                diskFull = full
            }
            if !writeFailing {
                writeFailing = true
                logger.error(
                    "store commit failed; keeping \(batch.count) records in memory and retrying",
                    metadata: ["error": "\(error)", "disk_full": "\(error.isDiskFull)"])
                raiseStoreAlarm(kind: "store_write_failed", detail: "\(error)")
            }
            return false
        }
        lastSeq = seqs
        lastHash = hashes
        lastAuditHash = auditHash
        if writeFailing {
            writeFailing = false
            logger.notice("store commits succeed again")
            raiseStoreAlarm(kind: "store_write_restored", detail: "commits succeed again")
        }
        for (entry, completion) in audited { completion(.success(entry)) }
        let rows = UInt64(batch.filter(\.countsAsRow).count)
        let handler = condition.withLock { () -> (@Sendable ([CommittedRange]) -> Void)? in
            committedCount += UInt64(batch.count)
            committedRowsTotal += rows
            lastCommitAt = MonotonicClock.now()
            commitsFailing = false
            diskFull = false
            return onCommit
        }
        resumeFlushWaiters()
        if let handler, !ranges.isEmpty {
            handler(ranges.map { CommittedRange(stream: $0.key, first: $0.value.0, last: $0.value.1) }
                .sorted { $0.stream < $1.stream })
        }
        return true
    }

    /// Writes what an event changes of the running batches, their shelves and the specs, in the
    /// event's own transaction.
    private func apply(_ change: BatchStateChange, at time: Int64) throws(SQLiteError) {
        switch change {
        case .started(let batch, let spec):
            if let spec {
                let insert = try statement("""
                    INSERT OR IGNORE INTO specs (fingerprint, document, version, canonical, source, first_seen_ns) VALUES (?,?,?,?,?,?)
                    """)
                insert.bind(1, spec.fingerprint)
                insert.bind(2, spec.document)
                insert.bind(3, spec.version)
                insert.bind(4, spec.canonical)
                insert.bind(5, spec.source)
                insert.bind(6, time)
                try insert.run()
            }
            // A resumed batch keeps the row it had: when, by whom and why it started.
            let other = try statement("DELETE FROM running_batches WHERE device = ? AND batch <> ?")
            other.bind(1, batch.device)
            other.bind(2, batch.batch)
            try other.run()
            let running = try statement("""
                INSERT OR IGNORE INTO running_batches (device, batch, spec, phase, follow_device_phase, started_ns, started_by, reason)
                VALUES (?,?,?,?,?,?,?,?)
                """)
            running.bind(1, batch.device)
            running.bind(2, batch.batch)
            running.bind(3, batch.spec)
            running.bind(4, batch.phase)
            running.bind(5, Int64(batch.followDevicePhase ? 1 : 0))
            running.bind(6, batch.started.nanosecondsSince1970)
            running.bind(7, batch.startedBy)
            running.bind(8, batch.reason)
            try running.run()
            let listed = try statement(
                "INSERT OR IGNORE INTO batches (device, batch, spec, started_ns, started_by, start_reason) VALUES (?,?,?,?,?,?)")
            listed.bind(1, batch.device)
            listed.bind(2, batch.batch)
            listed.bind(3, batch.spec)
            listed.bind(4, batch.started.nanosecondsSince1970)
            listed.bind(5, batch.startedBy)
            listed.bind(6, batch.reason)
            try listed.run()
        case .phase(let device, let phase):
            let update = try statement("UPDATE running_batches SET phase = ? WHERE device = ?")
            update.bind(1, phase)
            update.bind(2, device)
            try update.run()
        case .ended(let device, let batch, let at, let by, let reason):
            let delete = try statement("DELETE FROM running_batches WHERE device = ? AND batch = ?")
            delete.bind(1, device)
            delete.bind(2, batch)
            try delete.run()
            let shelves = try statement("DELETE FROM shelves WHERE device = ?")
            shelves.bind(1, device)
            try shelves.run()
            let update = try statement("UPDATE batches SET ended_ns = ?, ended_by = ?, end_reason = ? WHERE device = ? AND batch = ?")
            update.bind(1, at.nanosecondsSince1970)
            update.bind(2, by)
            update.bind(3, reason)
            update.bind(4, device)
            update.bind(5, batch)
            try update.run()
        case .shelved(let shelf):
            let insert = try statement(
                "INSERT OR REPLACE INTO shelves (alarm, device, batch, until_ns, user, reason) VALUES (?,?,?,?,?,?)")
            insert.bind(1, shelf.alarm)
            insert.bind(2, shelf.device)
            insert.bind(3, shelf.batch)
            insert.bind(4, shelf.until.nanosecondsSince1970)
            insert.bind(5, shelf.user)
            insert.bind(6, shelf.reason)
            try insert.run()
        case .unshelved(let alarm):
            let delete = try statement("DELETE FROM shelves WHERE alarm = ?")
            delete.bind(1, alarm)
            try delete.run()
        case .outOfService(let record):
            let insert = try statement(
                "INSERT OR REPLACE INTO out_of_service (target, device, since_ns, user, reason) VALUES (?,?,?,?,?)")
            insert.bind(1, record.target)
            insert.bind(2, record.device)
            insert.bind(3, record.since.nanosecondsSince1970)
            insert.bind(4, record.user)
            insert.bind(5, record.reason)
            try insert.run()
        case .inService(let target):
            let delete = try statement("DELETE FROM out_of_service WHERE target = ?")
            delete.bind(1, target)
            try delete.run()
        case .latched(let alarm, let device, let since):
            let insert = try statement("INSERT OR IGNORE INTO latches (alarm, device, since_ns) VALUES (?,?,?)")
            insert.bind(1, alarm)
            insert.bind(2, device)
            insert.bind(3, since.nanosecondsSince1970)
            try insert.run()
        case .unlatched(let alarm):
            let delete = try statement("DELETE FROM latches WHERE alarm = ?")
            delete.bind(1, alarm)
            try delete.run()
        case .followDevicePhase(let device, let follows):
            let update = try statement("UPDATE running_batches SET follow_device_phase = ? WHERE device = ?")
            update.bind(1, Int64(follows ? 1 : 0))
            update.bind(2, device)
            try update.run()
        case .register(let register):
            // A version arriving again (a retained message after a reconnect) changes nothing.
            let insert = try statement("""
                INSERT OR IGNORE INTO registers (kind, version, hash, signer_name, signer_user, signed_at, meaning, canonical, received_ns)
                VALUES (?,?,?,?,?,?,?,?,?)
                """)
            insert.bind(1, register.kind)
            insert.bind(2, register.version)
            insert.bind(3, register.hash)
            insert.bind(4, register.signerName)
            insert.bind(5, register.signerUser)
            insert.bind(6, register.signedAt)
            insert.bind(7, register.meaning)
            insert.bind(8, register.canonical)
            insert.bind(9, register.received.nanosecondsSince1970)
            try insert.run()
        }
    }

    /// The layout row of a device's parameter list, and the list as stored (`a,b,c`), which is
    /// also what the record hash covers.
    private func layoutId(device: String, parameters: [String]) throws(SQLiteError) -> (id: Int64, text: String) {
        if let known = layouts[device], known.parameters == parameters { return (known.id, known.text) }
        let text = parameters.joined(separator: ",")
        let find = try statement("SELECT id FROM layouts WHERE device = ? AND parameters = ?")
        find.bind(1, device)
        find.bind(2, text)
        let id: Int64
        if try find.step() {
            id = find.int64(0)
        } else {
            let insert = try statement("INSERT INTO layouts (device, parameters) VALUES (?, ?)")
            insert.bind(1, device)
            insert.bind(2, text)
            try insert.run()
            id = sqlite3_last_insert_rowid(connection.handle)
        }
        find.reset()
        layouts[device] = (parameters, id, text)
        return (id, text)
    }

    /// The row of a device's set of enumeration labels (written the first time the set is seen).
    private func labelSetId(device: String, labels: SampleLabels) throws(SQLiteError) -> Int64 {
        if let known = labelSets[device], known.labels == labels { return known.id }
        let find = try statement("SELECT id FROM label_sets WHERE device = ? AND labels = ?")
        find.bind(1, device)
        find.bind(2, labels.text)
        let id: Int64
        if try find.step() {
            id = find.int64(0)
        } else {
            let insert = try statement("INSERT INTO label_sets (device, labels) VALUES (?, ?)")
            insert.bind(1, device)
            insert.bind(2, labels.text)
            try insert.run()
            id = sqlite3_last_insert_rowid(connection.handle)
        }
        find.reset()
        labelSets[device] = (labels, id)
        return id
    }

    // MARK: Maintenance: free space and pruning

    private func maintain() {
        pruneDelivered()
    }

    /// Free bytes on the store's file system, for a non-root process.
    public static func freeBytes(at path: String) -> Int64? {
        var info = statvfs()
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard statvfs(directory, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    private func checkFreeSpace() {
        guard let free = Self.freeBytes(at: settings.path) else { return }
        if !spaceLow && free < settings.freeSpaceWarningBytes {
            spaceLow = true
            logger.warning("store space low", metadata: ["free_bytes": "\(free)", "warning_bytes": "\(settings.freeSpaceWarningBytes)"])
            raiseStoreAlarm(kind: "store_space_low", detail: "\(free) bytes free, warning below \(settings.freeSpaceWarningBytes)")
        } else if spaceLow && free > settings.freeSpaceWarningBytes + settings.freeSpaceWarningBytes / 10 {
            spaceLow = false
            logger.notice("store space restored", metadata: ["free_bytes": "\(free)"])
            raiseStoreAlarm(kind: "store_space_restored", detail: "\(free) bytes free")
        }
        let shouldThin = free < settings.freeSpaceLimitBytes
            || (thinning && free < settings.freeSpaceLimitBytes + settings.freeSpaceLimitBytes / 2)
        if shouldThin != thinning {
            thinning = shouldThin
            let policy = "keep every event and audit entry; thin samples of devices without an active batch to one a minute"
            logger.warning(thinning ? "store hard limit reached: \(policy)" : "store below hard limit again: keeping every sample")
            let action = AuditAction(
                user: systemUser, action: "store.policy", target: settings.path,
                reason: "\(free) bytes free, hard limit \(settings.freeSpaceLimitBytes)",
                oldValue: thinning ? "keep every sample" : policy, newValue: thinning ? policy : "keep every sample")
            enqueue(.audit(action, time: Date().nanosecondsSince1970) { _ in }, urgent: true)
        }
    }

    /// Notices the first time the file is deleted or replaced behind SQLite's back.
    private func checkFile() {
        guard condition.withLock({ fileProblem == nil }), let problem = file.check() else { return }
        condition.withLock { fileProblem = problem }
        logger.critical("\(problem.description)", metadata: ["path": "\(settings.path)", "epoch": "\(epoch)"])
        raiseStoreAlarm(kind: problem == .deleted ? "store_file_deleted" : "store_file_replaced", detail: problem.description)
    }

    /// Records a store alarm on the site's event stream (kept in memory until it can be written).
    private func raiseStoreAlarm(kind: String, detail: String) {
        let time = Date()
        let body = #"{"kind":"\#(kind)","device":"site","time":"\#(UTCTime.format(time))","detail":\#(CanonicalJSON.string(detail)),"path":\#(CanonicalJSON.string(settings.path))}"#
        enqueue(.event(EventRecord(stream: .siteEvents, device: "site", time: time, kind: kind, body: body)), urgent: true)
    }

    /// The last number of `stream` up to `head` the store no longer holds (signed in each
    /// checkpoint, so the Control Site can tell a real prune from a forged answer); nil: none.
    private func prunedThrough(_ stream: String, head: Int64) throws(SQLiteError) -> Int64? {
        guard let name = StreamName(stream), name.table != "audit" else { return nil }  // the audit trail is never pruned
        let first = try statement("SELECT MIN(seq) FROM \(name.table) WHERE stream = ?")
        defer { first.reset() }
        first.bind(1, stream)
        guard try first.step(), !first.isNull(0) else { return head }
        let held = first.int64(0)
        return held > 1 ? min(head, held - 1) : nil
    }

    /// Deletes delivered rows older than the retention period, a few hundred at a time, so
    /// the writer is never held for long. Undelivered rows are never deleted.
    private func pruneDelivered() {
        let cutoff = Date().addingTimeInterval(-Double(settings.retention.nanoseconds) / 1e9).nanosecondsSince1970
        guard let streams = try? connection.prepare("SELECT stream, delivered_seq FROM streams WHERE delivered_seq > 0"),
            case let rows = Self.collect(streams, { ($0.text(0) ?? "", $0.int64(1)) }), !rows.isEmpty
        else { return }
        for (stream, delivered) in rows {
            guard let table = StreamName(stream)?.table, table != "audit" else { continue }
            do {
                // The oldest rows, up to 500: a contiguous prefix of delivered rows older than the
                // retention is removed, and the last of them becomes the chain's anchor, in the same
                // transaction, so what remains still verifies from there.
                let oldest = try statement("SELECT seq, time_ns, hash FROM \(table) WHERE stream = ? ORDER BY seq LIMIT 500")
                oldest.bind(1, stream)
                var upper: Int64?
                var upperHash: String?
                while try oldest.step() {
                    let seq = oldest.int64(0)
                    guard seq <= delivered, oldest.int64(1) < cutoff else { break }
                    upper = seq
                    upperHash = oldest.text(2)
                }
                oldest.reset()
                guard let upper else { continue }
                try connection.execute("BEGIN IMMEDIATE")
                do {
                    let delete = try statement("DELETE FROM \(table) WHERE stream = ? AND seq <= ?")
                    delete.bind(1, stream)
                    delete.bind(2, upper)
                    try delete.run()
                    if let upperHash {
                        let anchor = try statement(
                            "UPDATE streams SET anchor_seq = ?, anchor_hash = ? WHERE stream = ? AND anchor_seq < ?")
                        anchor.bind(1, upper)
                        anchor.bind(2, upperHash)
                        anchor.bind(3, stream)
                        anchor.bind(4, upper)
                        try anchor.run()
                    }
                    try connection.execute("COMMIT")
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
            } catch {
                logger.warning("pruning failed", metadata: ["stream": "\(stream)", "error": "\(error)"])
            }
        }
    }

    static func collect<T>(_ statement: SQLiteStatement, _ row: (SQLiteStatement) -> T) -> [T] {
        var result: [T] = []
        while (try? statement.step()) == true { result.append(row(statement)) }
        return result
    }
}

