import Foundation
import POCareContract
import Logging

/// Writes what arrived from the broker into PostgreSQL, a batch of messages per transaction.
///
/// Per stream the progress (contiguous, highest, gaps) is read with a row lock, advanced by
/// what was actually inserted, and written back in the same transaction, so instances sharing
/// the load agree on it. Telemetry beyond the locked progress is new by that proof and copied
/// straight in; for everything else the database decides what is new: it is inserted only where
/// no record of its `(site, epoch, stream, seq)` is stored, so a resend, or a copy another
/// instance already stored, is dropped, and a dropped copy whose content differs from the
/// stored one is an integrity finding. Not thread-safe: one thread (the ingest writer's) owns it.
public final class IngestWriter {
    public enum Item: Sendable {
        case message(ContractMessage)
        /// A message refused before it reached a writer: its size and first bytes for the record of it.
        case rejected(ContractMessage.Failure, bytes: Int = 0, excerpt: String = "")
    }

    public struct Outcome: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        public var conflicts = 0
        public var gapsOpened = 0
        /// What sites say of themselves rather than records: statuses, device metadata, spec documents.
        public var siteMessages = 0
        public var rejected = 0
        /// Record messages held aside (a device no birth names, values its metadata does not name).
        public var held = 0
    }

    let connection: PostgresConnection
    let logger: Logger
    let siteKeys: SiteKeyRegister
    let sequenceJumpLimit: SequenceJumpLimit
    private let admission: IngestAdmission
    private let monthPartitions = SampleMonthPartitions()
    /// Each stream's last fresh sample as committed (`IngestWriter+Rollups`), and this transaction's.
    var rollupTails: [StreamKey: RollupTail] = [:]
    private var pendingTails: [StreamKey: RollupTail] = [:]

    public init(
        connection: PostgresConnection, logger: Logger, topicRoot: String = "pocare/v1", siteKeys: SiteKeyRegister = .open,
        sequenceJumpLimit: SequenceJumpLimit = .standard
    ) throws(PostgresError) {
        self.siteKeys = siteKeys
        self.sequenceJumpLimit = sequenceJumpLimit
        self.connection = connection
        self.logger = logger
        admission = IngestAdmission(topicRoot: topicRoot)
        // A batch of a backlog is 100,000 samples: staged and sorted in memory, not in temporary files.
        try connection.execute("SET temp_buffers = '256MB'")
        try connection.execute("SET work_mem = '64MB'")
        try connection.execute("""
            CREATE TEMP TABLE IF NOT EXISTS staged_records (
                kind text NOT NULL, site text NOT NULL, epoch text NOT NULL, stream text NOT NULL,
                device text, record jsonb NOT NULL, body text
            ) ON COMMIT DELETE ROWS
            """)
        try connection.execute("""
            CREATE TEMP TABLE IF NOT EXISTS staged_samples (
                site text NOT NULL, epoch text NOT NULL, stream text NOT NULL, device text, seq bigint NOT NULL,
                time timestamptz NOT NULL, cycle bigint, batch text, phase text, spec text, "values" json NOT NULL,
                quality json, hash text, previous_hash text, time_ns bigint, raw json
            ) ON COMMIT DELETE ROWS
            """)
        try connection.execute("CREATE TEMP TABLE IF NOT EXISTS minute_delta (LIKE sample_minutes) ON COMMIT DELETE ROWS")
    }

    /// Writes `items` in one transaction. Throws what the database said; the caller retries
    /// the same items (a retry is harmless: everything already stored is a duplicate).
    public func write(_ items: [Item]) throws -> Outcome {
        var outcome = Outcome()
        let now = Date()
        monthPartitions.ensure(monthPartitions.unknownMonths(items), on: connection, logger: logger)
        pendingTails = [:]
        try connection.transaction {
            // Only registered sites, and only statuses the site signed, are taken as the site's.
            let items = try admit(items)
            let announced = try writeSiteMessages(items, into: &outcome)
            let records = try screenRecords(items, announced: announced, into: &outcome)
            guard !records.isEmpty else { return }
            try store(records, at: now, into: &outcome)
        }
        // Only what committed may stand for a stored record.
        rollupTails.merge(pendingTails) { _, new in new }
        if rollupTails.count > 100_000 { rollupTails = pendingTails }
        return outcome
    }

    /// Writes what sites say of themselves (statuses, metadata, spec documents) and the record of
    /// refused messages; returns the devices a birth or metadata of these items names, so what
    /// was held of them is looked at again.
    private func writeSiteMessages(_ items: [Item], into outcome: inout Outcome) throws -> Set<SiteDevice> {
        var announced = Set<SiteDevice>()
        for item in items {
            switch item {
            case .message(.status(let status)):
                for device in try writeStatus(status) { announced.insert(SiteDevice(site: status.site, device: device)) }
                try applyConfirmedMetadata(status)
                outcome.siteMessages += 1
            case .rejected(let failure, let bytes, let excerpt):
                try RefusedMessage.record(failure, bytes: bytes, excerpt: excerpt, on: connection)
                outcome.rejected += 1
            case .message(.deviceMetadata(let metadata)):
                outcome.siteMessages += 1
                if try holdsMetadataChange(metadata) { continue }
                try writeMetadata(metadata)
                if metadata.payload != nil { announced.insert(SiteDevice(site: metadata.site, device: metadata.device)) }
            case .message(.specDocument(let spec)):
                try writeSpecDocument(spec)
                outcome.siteMessages += 1
            case .message(.records): break
            }
        }
        return announced
    }

    /// The record messages that may become streams' records: those held before and now
    /// announced first, then admission, hash proof, checkpoints, epoch confirmation and the
    /// sequence-jump screen, each setting aside what it does not pass.
    private func screenRecords(_ items: [Item], announced: Set<SiteDevice>, into outcome: inout Outcome) throws -> [RecordMessage] {
        let arriving = items.compactMap { item -> RecordMessage? in
            if case .message(.records(let m)) = item { return m } else { return nil }
        }
        let records = try admission.release(announced, on: connection) + arriving
        let admitted = try admission.admit(records, on: connection)
        outcome.held = admitted.held
        // Every record's hash recomputed before it is stored: what does not match is set aside.
        let proof = RecordProof(admitted.accepted)
        try record(proof)
        // Checkpoints first: one signed under a new epoch confirms the message that carries it.
        try recordCheckpoints(proof.kept)
        return try screenSequenceJumps(try holdUnconfirmedEpochs(proof.kept))
    }

    /// Stores the records, checks the duplicates and chains they meet, and advances each
    /// stream's progress by what was sent.
    private func store(_ records: [RecordMessage], at now: Date, into outcome: inout Outcome) throws {
        try recordEpochs(records)
        // Row locks in one order, so two instances never wait on each other in a circle.
        let keys = Set(records.map(\.streamKey)).sorted()
        var progress = try lockStreams(keys, records: records)
        let records = try setAsideArchived(records, progress: progress)
        try takeOutOfChunks(records)

        // Fresh telemetry first: the staged insert then finds it stored, should a resend in the
        // same transaction overlap it.
        var (fresh, staged) = freshSamples(records, progress: progress)
        var inserted: Inserted
        if let copied = try copyFresh(fresh) {
            inserted = copied
        } else {
            (inserted, fresh, staged) = (Inserted(), [], records)
        }
        try stage(staged)
        inserted.add(try insertStaged(kinds: Set(staged.map(\.kind))))
        outcome.inserted = inserted.total
        // What was sent but not inserted is a duplicate: check that it is the same record.
        var duplicatesByStream: [StreamKey: Int] = [:]
        for message in records { duplicatesByStream[message.streamKey, default: 0] += message.records.count }
        for (key, count) in inserted.byStream { duplicatesByStream[key, default: 0] -= count }
        outcome.duplicates = duplicatesByStream.values.reduce(0, +)
        if outcome.duplicates > 0 {
            let kinds = Set(records.filter { duplicatesByStream[$0.streamKey, default: 0] > 0 }.map(\.kind))
            for kind in kinds { outcome.conflicts += try recordConflicts(kind) }
        }
        // Fresh samples are stored as sent; with nothing dropped as a duplicate, so is every staged one.
        if fresh.contains(where: \.carriesChain) { try verifySampleChain(fresh) }
        for kind in Set(staged.filter(\.carriesChain).map(\.kind)) {
            if kind == .sample && outcome.duplicates == 0 { try verifySampleChain(staged) } else { try verifyChain(kind) }
        }
        try checkMissingHashes(fresh: fresh)
        try checkMissingHashes(keys, kinds: Set(staged.map(\.kind)))

        // Every number sent is stored once this commits (inserted now, or before as the copy
        // a duplicate was compared with), so the stream's progress advances by what was sent.
        pendingTails = try rollUp(records, fresh: fresh, before: progress)
        var arrived: [StreamKey: [ClosedRange<Int64>]] = [:]
        for message in records { arrived[message.streamKey, default: []].append(message.seqFirst...message.seqLast) }
        for key in keys {
            var stream = progress[key] ?? StreamProgress()
            let change = stream.apply(arrived: (arrived[key] ?? []).mergedRuns(), at: now)
            progress[key] = stream
            outcome.gapsOpened += change.opened.count
            try saveProgress(key, stream, change: change, inserted: inserted.byStream[key] ?? 0,
                             duplicates: max(0, duplicatesByStream[key] ?? 0), newestTimes: [inserted.newestTime[key], inserted.newestSent[key]], now: now)
        }
        // Only that the site exists: its last record times are its streams', so writers of
        // different streams never wait on one site row.
        for site in Set(keys.map(\.site)).sorted() {
            try connection.execute("INSERT INTO sites (site) VALUES ($1) ON CONFLICT (site) DO NOTHING", [site])
        }
    }
}

struct StreamKey: Hashable, Comparable, Sendable {
    var site: String
    var epoch: String
    var stream: String
    static func < (a: StreamKey, b: StreamKey) -> Bool { (a.site, a.epoch, a.stream) < (b.site, b.epoch, b.stream) }
}

extension RecordMessage {
    var streamKey: StreamKey { StreamKey(site: site, epoch: epoch, stream: stream) }
}

struct SiteEpoch: Hashable { var site: String; var epoch: String }
