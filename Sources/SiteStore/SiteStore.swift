import CSQLite
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
/// groups (after `commitInterval` or `commitRows` rows, whichever comes first, at once for
/// audit entries) and assigns each row the next sequence number of its stream inside the
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
        public var commitInterval: Duration = .milliseconds(100)
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

    private enum Pending {
        case sample(device: String, time: Int64, cycle: Int64, context: SampleContext, parameters: [String], readings: [UInt8])
        case event(EventRecord)
        case audit(AuditAction, time: Int64, completion: @Sendable (Result<AuditEntry, SQLiteError>) -> Void)
        case delivered(stream: String, seq: Int64)
        case batchStarted(device: String, batch: String, spec: String, time: Int64)
        case batchEnded(device: String, batch: String, time: Int64)

        var countsAsRow: Bool {
            switch self {
            case .sample, .event, .audit: true
            default: false
            }
        }
    }

    private let condition = MonotonicCondition()
    private var queue: [Pending] = []
    private var queuedRows = 0
    private var firstQueuedAt: Int64 = 0
    private var urgent = false
    private var stopping = false
    private var enqueuedCount: UInt64 = 0
    private var committedCount: UInt64 = 0
    private var lastCommitAt: Int64?
    private var commitsFailing = false
    private var diskFull = false
    private var committedRowsTotal: UInt64 = 0
    private let finished = DispatchSemaphore(value: 0)
    private var onCommit: (@Sendable ([CommittedRange]) -> Void)?
    /// Callers of `flush()` waiting for everything enqueued before their call to settle.
    private var flushWaiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []

    // Writer-thread state.
    private let connection: SQLiteConnection
    private var lastSeq: [String: Int64] = [:]
    private var lastAuditHash = AuditEntry.genesisHash
    private var layouts: [String: (parameters: [String], id: Int64)] = [:]
    private var statements: [String: SQLiteStatement] = [:]
    private var spaceLow = false
    private var thinning = false
    private var writeFailing = false
    private var lastKeptUnbatched: [String: Int64] = [:]
    private var droppedSamples = 0
    private var logger = Logger(label: "pocare.store")

    /// Opens (creating or migrating) the store and starts its writer thread.
    public init(settings: Settings) throws(SQLiteError) {
        self.settings = settings
        self.systemUser = Self.currentUser()
        let directory = URL(fileURLWithPath: settings.path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        connection = try SQLiteConnection(path: settings.path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = \(settings.synchronous.rawValue)")
        try connection.execute("PRAGMA foreign_keys = ON")
        try migrate()
        try loadState()
        let thread = Thread { [self] in
            runWriter()
            resumeFlushWaiters(all: true)
            finished.signal()
        }
        thread.name = "store-writer"
        thread.start()
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
        let streams = try connection.prepare("SELECT stream, last_seq FROM streams")
        while try streams.step() { lastSeq[streams.text(0) ?? ""] = streams.int64(1) }
        if let hash = try connection.scalar("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") { lastAuditHash = hash }
    }

    /// Called on the writer thread after each commit with what became durable.
    public func setCommitHandler(_ handler: @escaping @Sendable ([CommittedRange]) -> Void) {
        condition.withLock { onCommit = handler }
    }

    // MARK: Producers (any thread)

    public func append(_ sample: Sample, context: SampleContext, parameters: [String]) {
        enqueue(.sample(
            device: sample.deviceId, time: sample.time.nanosecondsSince1970, cycle: Int64(sample.cycle), context: context,
            parameters: parameters, readings: SampleCodec.encode(sample.readings)))
    }

    public func append(_ event: EventRecord) { enqueue(.event(event)) }

    public func recordBatchStart(device: String, batch: String, spec: String, at time: Date) {
        enqueue(.batchStarted(device: device, batch: batch, spec: spec, time: time.nanosecondsSince1970))
    }

    public func recordBatchEnd(device: String, batch: String, at time: Date) {
        enqueue(.batchEnded(device: device, batch: batch, time: time.nanosecondsSince1970))
    }

    /// Advances a stream's delivered watermark (the publisher calls this on acknowledgement).
    public func markDelivered(stream: StreamName, through seq: Int64) {
        enqueue(.delivered(stream: stream.description, seq: seq), urgent: true)
    }

    /// Writes an audit entry and returns it once it is committed; throws if it could not be.
    /// An action must not take effect unless this returns.
    public func audit(_ action: AuditAction, at time: Date = Date()) async throws -> AuditEntry {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(.audit(action, time: time.nanosecondsSince1970) { continuation.resume(with: $0) }, urgent: true)
        }
    }

    /// Waits until everything enqueued before the call is committed (or has failed for good).
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let settled = condition.withLock { () -> Bool in
                urgent = true
                condition.broadcast()
                guard committedCount < enqueuedCount && !stopping else { return true }
                flushWaiters.append((enqueuedCount, continuation))
                return false
            }
            if settled { continuation.resume() }
        }
    }

    /// Resumes the `flush()` callers whose rows have settled (all of them once the store stops).
    private func resumeFlushWaiters(all: Bool = false) {
        let ready = condition.withLock { () -> [CheckedContinuation<Void, Never>] in
            let everyone = all || stopping
            let ready = flushWaiters.filter { everyone || $0.target <= committedCount }.map(\.continuation)
            flushWaiters.removeAll { everyone || $0.target <= committedCount }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Commits what is queued, stops the writer and closes the store.
    public func close() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
        resumeFlushWaiters(all: true)
        finished.wait()
        finished.signal()
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
    }

    public var health: Health {
        condition.withLock {
            Health(pendingRows: queuedRows, lastCommit: lastCommitAt, failing: commitsFailing, diskFull: diskFull,
                   committedRows: committedRowsTotal)
        }
    }

    /// A full disk is not unhealthy here: the daemon must go on polling, alarming and holding
    /// rows in memory (a restart would lose them). A writer that cannot commit for any other
    /// reason, or does not get round to it, is.
    public func isHealthy(now: Int64 = MonotonicClock.now(), maxCommitAge: Duration = .seconds(10)) -> Bool {
        let h = health
        if h.failing { return h.diskFull }
        if h.pendingRows == 0 { return true }
        return h.lastCommit.map { now - $0 < maxCommitAge.nanoseconds } ?? false
    }

    private func enqueue(_ item: Pending, urgent isUrgent: Bool = false) {
        condition.withLock {
            if stopping {
                if case .audit(_, _, let completion) = item {
                    completion(.failure(SQLiteError(code: SQLITE_MISUSE, message: "the store is closed", sql: nil)))
                }
                return
            }
            if queue.isEmpty { firstQueuedAt = MonotonicClock.now() }
            queue.append(item)
            if item.countsAsRow { queuedRows += 1 }
            enqueuedCount += 1
            if isUrgent { urgent = true }
            if isUrgent || queuedRows >= settings.commitRows || queue.count == 1 { condition.broadcast() }
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
            if !queue.isEmpty {
                let deadline = firstQueuedAt + settings.commitInterval.nanoseconds
                while queuedRows < settings.commitRows && !urgent && !stopping && MonotonicClock.now() < deadline {
                    condition.wait(until: deadline)
                }
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
            if !batch.isEmpty {
                if commit(batch) {
                    retryDelay = 200_000_000
                } else {
                    requeue(batch)
                    if isStopping {
                        logger.error("store closed with uncommitted records", metadata: ["records": "\(pendingRows)"])
                        break
                    }
                    var ts = timespec(tv_sec: Int(retryDelay / 1_000_000_000), tv_nsec: Int(retryDelay % 1_000_000_000))
                    nanosleep(&ts, nil)
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
        var auditHash = lastAuditHash
        var ranges: [String: (Int64, Int64)] = [:]
        var audited: [(AuditEntry, @Sendable (Result<AuditEntry, SQLiteError>) -> Void)] = []
        func next(_ stream: String) -> Int64 {
            let seq = (seqs[stream] ?? 0) + 1
            seqs[stream] = seq
            ranges[stream] = (ranges[stream]?.0 ?? seq, seq)
            return seq
        }
        do {
            try connection.execute("BEGIN IMMEDIATE")
            for item in batch {
                switch item {
                case .sample(let device, let time, let cycle, let context, let parameters, let readings):
                    if thinning && context.batchId == nil {
                        // Hard space limit: keep one sample a minute of devices without a batch.
                        if let kept = lastKeptUnbatched[device], time - kept < 60_000_000_000 { continue }
                        lastKeptUnbatched[device] = time
                    }
                    let layout = try layoutId(device: device, parameters: parameters)
                    let insert = try statement(
                        "INSERT INTO samples (stream, seq, device, time_ns, cycle, batch, phase, spec, layout, readings) VALUES (?,?,?,?,?,?,?,?,?,?)")
                    let stream = StreamName.telemetry(device: device).description
                    insert.bind(1, stream)
                    insert.bind(2, next(stream))
                    insert.bind(3, device)
                    insert.bind(4, time)
                    insert.bind(5, cycle)
                    insert.bind(6, context.batchId)
                    insert.bind(7, context.phase)
                    insert.bind(8, context.specFingerprint)
                    insert.bind(9, layout)
                    insert.bind(10, blob: readings)
                    try insert.run()
                case .event(let event):
                    let insert = try statement(
                        "INSERT INTO events (stream, seq, device, time_ns, kind, alarm, batch, phase, spec, body) VALUES (?,?,?,?,?,?,?,?,?,?)")
                    insert.bind(1, event.stream.description)
                    insert.bind(2, next(event.stream.description))
                    insert.bind(3, event.device)
                    insert.bind(4, event.time.nanosecondsSince1970)
                    insert.bind(5, event.kind)
                    insert.bind(6, event.alarm)
                    insert.bind(7, event.batchId)
                    insert.bind(8, event.phase)
                    insert.bind(9, event.specFingerprint)
                    insert.bind(10, event.body)
                    try insert.run()
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
                case .batchStarted(let device, let batch, let spec, let time):
                    let insert = try statement(
                        "INSERT OR IGNORE INTO batches (device, batch, spec, started_ns) VALUES (?,?,?,?)")
                    insert.bind(1, device)
                    insert.bind(2, batch)
                    insert.bind(3, spec)
                    insert.bind(4, time)
                    try insert.run()
                case .batchEnded(let device, let batch, let time):
                    let update = try statement("UPDATE batches SET ended_ns = ? WHERE device = ? AND batch = ?")
                    update.bind(1, time)
                    update.bind(2, device)
                    update.bind(3, batch)
                    try update.run()
                }
            }
            let upsert = try statement(
                "INSERT INTO streams (stream, last_seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq")
            for (stream, range) in ranges {
                upsert.reset()
                upsert.bind(1, stream)
                upsert.bind(2, range.1)
                try upsert.run()
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            layouts.removeAll()  // a rolled-back layout row must be written again
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

    private func layoutId(device: String, parameters: [String]) throws(SQLiteError) -> Int64 {
        if let known = layouts[device], known.parameters == parameters { return known.id }
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
        layouts[device] = (parameters, id)
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

    /// Records a store alarm on the site's event stream (kept in memory until it can be written).
    private func raiseStoreAlarm(kind: String, detail: String) {
        let time = Date()
        let body = #"{"kind":"\#(kind)","device":"site","time":"\#(UTCTime.format(time))","detail":\#(CanonicalJSON.string(detail)),"path":\#(CanonicalJSON.string(settings.path))}"#
        enqueue(.event(EventRecord(stream: .siteEvents, device: "site", time: time, kind: kind, body: body)), urgent: true)
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
                let find = try statement(
                    "SELECT seq FROM \(table) WHERE stream = ? AND seq <= ? AND time_ns < ? ORDER BY seq LIMIT 1 OFFSET 499")
                find.bind(1, stream)
                find.bind(2, delivered)
                find.bind(3, cutoff)
                var upper = delivered
                if try find.step() { upper = min(upper, find.int64(0)) }
                find.reset()
                let delete = try statement("DELETE FROM \(table) WHERE stream = ? AND seq <= ? AND time_ns < ?")
                delete.bind(1, stream)
                delete.bind(2, upper)
                delete.bind(3, cutoff)
                try delete.run()
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

