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
/// The store's work is split by job into extensions: opening (`+Opening`), the producers'
/// side (`+Producers`), the writer thread (`+Writer`), one commit (`+Commit`) with the batch
/// state and sample layouts it writes (`+BatchState`, `+SampleLayouts`), and maintenance
/// (`+Maintenance`). Their shared state below is internal for them; nothing else in the
/// module touches it.
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

    enum Pending {
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

    let condition = MonotonicCondition()
    var queue: [Pending] = []
    var queuedRows = 0
    var firstQueuedAt: Int64 = 0
    var firstRowQueuedAt: Int64 = 0
    var lastRowQueuedAt: Int64 = 0
    var urgent = false
    var stopping = false
    var enqueuedCount: UInt64 = 0
    var committedCount: UInt64 = 0
    var lastCommitAt: Int64?
    var commitsFailing = false
    var diskFull = false
    var committedRowsTotal: UInt64 = 0
    var fileProblem: StoreFileProblem?
    let writer = DedicatedThread(name: "store-writer")
    var onCommit: (@Sendable ([CommittedRange]) -> Void)?
    /// Callers of `flush()` waiting for everything enqueued before their call to settle.
    var flushWaiters: [(token: UInt64, target: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
    var nextFlushToken: UInt64 = 0

    // Writer-thread state.
    let file: StoreFile
    let connection: SQLiteConnection
    var lastSeq: [String: Int64] = [:]
    /// The hash of each stream's last record (the head of its chain).
    var lastHash: [String: String] = [:]
    var hasher = RecordChain.Hasher()
    var lastAuditHash = AuditEntry.genesisHash
    var layouts: [String: SampleLayout] = [:]
    var labelSets: [String: (labels: SampleLabels, id: Int64)] = [:]
    var statements: [String: SQLiteStatement] = [:]
    /// The statement every sample is inserted with, kept apart from `statements` so the hot
    /// path does not hash its text once a sample.
    var sampleInsert: SQLiteStatement?
    var spaceLow = false
    var thinning = false
    var writeFailing = false
    var lastKeptUnbatched: [String: Int64] = [:]
    var droppedSamples = 0
    var logger = Logger(label: "pocare.store")

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

    /// Called on the writer thread after each commit with what became durable.
    public func setCommitHandler(_ handler: @escaping @Sendable ([CommittedRange]) -> Void) {
        condition.withLock { onCommit = handler }
    }
}
