import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

/// What one commit changes of the writer's chain state: kept apart from the writer's own
/// until the transaction commits, so a rolled-back commit leaves no trace in it.
struct CommitDraft {
    var seqs: [String: Int64]
    var hashes: [String: String]
    var auditHash: String
    /// The first and the last number each stream was given in this commit.
    var ranges: [String: (first: Int64, last: Int64)] = [:]
    /// The audit entries written, answered once the commit is durable.
    var audited: [(AuditEntry, @Sendable (Result<AuditEntry, SQLiteError>) -> Void)] = []

    /// Gives `stream` its next sequence number.
    mutating func next(_ stream: String) -> Int64 {
        // Each entry is changed in place: one look-up of the stream's name apiece.
        let seq = Self.increment(&seqs[stream, default: 0])
        ranges[stream, default: (seq, seq)].last = seq
        return seq
    }

    /// Gives `stream` its next number and the hash `record` makes of it and of the hash of the
    /// stream's last record; that hash becomes the stream's head.
    mutating func chain(_ stream: String, record: (_ seq: Int64, _ previous: String) -> String) -> (seq: Int64, hash: String) {
        let seq = next(stream)
        let hash = Self.advance(&hashes[stream, default: RecordChain.genesis]) { record(seq, $0) }
        return (seq, hash)
    }

    private static func increment(_ value: inout Int64) -> Int64 {
        value += 1
        return value
    }

    private static func advance(_ head: inout String, to next: (String) -> String) -> String {
        head = next(head)
        return head
    }

    /// The hash at the head of a stream's chain as this commit leaves it.
    func head(of stream: String) -> String? {
        stream == StreamName.audit.description ? auditHash : hashes[stream]
    }
}

extension SiteStore {
    /// Commits one group in one transaction. Returns false (after rolling back) if it failed.
    func commit(_ batch: [Pending]) -> Bool {
        var draft = CommitDraft(seqs: lastSeq, hashes: lastHash, auditHash: lastAuditHash)
        do {
            try connection.execute("BEGIN IMMEDIATE")
            for item in batch { try write(item, into: &draft) }
            try storeStreamHeads(of: draft)
            try connection.execute("COMMIT")
        } catch {
            rollBack(after: error, records: batch.count)
            return false
        }
        lastSeq = draft.seqs
        lastHash = draft.hashes
        lastAuditHash = draft.auditHash
        settle(batch, committed: draft)
        return true
    }

    /// Writes one queued item inside the committing transaction.
    private func write(_ item: Pending, into draft: inout CommitDraft) throws(SQLiteError) {
        switch item {
        case .sample(let device, let time, let cycle, let context, let parameters, let labels, let readings):
            try insertSample(
                device: device, time: time, cycle: cycle, context: context, parameters: parameters, labels: labels,
                readings: readings, into: &draft)
        case .event(let event):
            try insertEvent(event, into: &draft)
        case .checkpoint(let site, let reason, let key, let publicKey):
            try insertCheckpoint(site: site, reason: reason, key: key, publicKey: publicKey, into: &draft)
        case .audit(let action, let time, let completion):
            try insertAudit(action, time: time, completion: completion, into: &draft)
        case .delivered(let stream, let seq):
            let update = try statement(
                "UPDATE streams SET delivered_seq = max(delivered_seq, min(?, last_seq)) WHERE stream = ?")
            update.bind(1, seq)
            update.bind(2, stream)
            try update.run()
        }
    }

    /// Commits a sample as the next record of its device's telemetry stream, in the chain.
    private func insertSample(
        device: String, time: Int64, cycle: Int64, context: SampleContext, parameters: [String], labels: SampleLabels?,
        readings: [UInt8], into draft: inout CommitDraft
    ) throws(SQLiteError) {
        if thinning && context.batchId == nil {
            // Hard space limit: keep one sample a minute of devices without a batch.
            if let kept = lastKeptUnbatched[device], time - kept < 60_000_000_000 { return }
            lastKeptUnbatched[device] = time
        }
        let layout = try layoutId(device: device, parameters: parameters)
        let labelSet = try labels.map { labels throws(SQLiteError) in try labelSetId(device: device, labels: labels) }
        let insert = try sampleInsertStatement()
        let stream = layout.stream
        let (seq, hash) = draft.chain(stream) { seq, previous in
            hasher.sample(
                previous: previous, stream: stream, seq: seq, device: device, timeNanoseconds: time,
                cycle: cycle, batch: context.batchId, phase: context.phase, spec: context.specFingerprint,
                parameters: layout.text, readings: readings)
        }
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
    }

    /// The statement every sample is inserted with, prepared once.
    private func sampleInsertStatement() throws(SQLiteError) -> SQLiteStatement {
        if let sampleInsert { return sampleInsert.reset() }
        let prepared = try connection.prepare(
            "INSERT INTO samples (stream, seq, device, time_ns, cycle, batch, phase, spec, layout, readings, hash, labels) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
        sampleInsert = prepared
        return prepared
    }

    /// Commits an event as the next record of its stream, in the chain, with what it changes
    /// of the batch state.
    private func insertEvent(_ event: EventRecord, into draft: inout CommitDraft) throws(SQLiteError) {
        let insert = try statement(
            "INSERT INTO events (stream, seq, device, time_ns, kind, alarm, batch, phase, spec, body, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
        let stream = event.stream.description
        let timeNanoseconds = event.time.nanosecondsSince1970
        let (seq, hash) = draft.chain(stream) { seq, previous in
            hasher.event(
                previous: previous, stream: stream, seq: seq, device: event.device,
                timeNanoseconds: timeNanoseconds, kind: event.kind, alarm: event.alarm, batch: event.batchId, phase: event.phase,
                spec: event.specFingerprint, body: event.body)
        }
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

    /// Commits a signed checkpoint of every chain's head as this transaction leaves it, audit
    /// trail included, as a `site/events` record.
    private func insertCheckpoint(
        site: String, reason: String, key: Ed25519.PrivateKey, publicKey: String, into draft: inout CommitDraft
    ) throws(SQLiteError) {
        var chains: [Checkpoint.Chain] = []
        for (stream, seq) in draft.seqs where seq > 0 {
            guard let hash = draft.head(of: stream) else { continue }
            chains.append(Checkpoint.Chain(stream: stream, seq: seq, hash: hash, prunedThrough: try prunedThrough(stream, head: seq)))
        }
        let now = Date()
        let checkpoint = Checkpoint(
            site: site, epoch: epoch, reason: reason, signedNanoseconds: now.nanosecondsSince1970, key: publicKey, chains: chains)
        let body: String
        do { body = try checkpoint.signed(with: key) } catch {
            logger.error("cannot sign a checkpoint; records stay unsigned until the next", metadata: ["error": "\(error)"])
            return
        }
        try insertEvent(EventRecord(stream: .siteEvents, device: "site", time: now, kind: Checkpoint.eventKind, body: body), into: &draft)
    }

    /// Commits an audit entry as the next of the audit trail; its caller hears once the
    /// transaction is durable.
    private func insertAudit(
        _ action: AuditAction, time: Int64, completion: @escaping @Sendable (Result<AuditEntry, SQLiteError>) -> Void,
        into draft: inout CommitDraft
    ) throws(SQLiteError) {
        let seq = draft.next(StreamName.audit.description)
        let hash = AuditEntry.hash(seq: seq, timeNanoseconds: time, action: action, previousHash: draft.auditHash)
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
        insert.bind(9, draft.auditHash)
        insert.bind(10, hash)
        try insert.run()
        draft.audited.append((AuditEntry(
            seq: seq, time: Date(nanosecondsSince1970: time), timeNanoseconds: time, action: action,
            previousHash: draft.auditHash, hash: hash), completion))
        draft.auditHash = hash
    }

    /// Each stream's last number and chain head, in the same transaction as its records.
    private func storeStreamHeads(of draft: CommitDraft) throws(SQLiteError) {
        let upsert = try statement("""
            INSERT INTO streams (stream, last_seq, head_hash) VALUES (?, ?, ?)
            ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq, head_hash = excluded.head_hash
            """)
        for (stream, range) in draft.ranges {
            upsert.reset()
            upsert.bind(1, stream)
            upsert.bind(2, range.last)
            upsert.bind(3, draft.head(of: stream))
            try upsert.run()
        }
    }

    /// Undoes a failed commit (its records are queued again by the caller) and raises the
    /// store alarm on the first failure of a run of them.
    private func rollBack(after error: SQLiteError, records: Int) {
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
                "store commit failed; keeping \(records) records in memory and retrying",
                metadata: ["error": "\(error)", "disk_full": "\(error.isDiskFull)"])
            raiseStoreAlarm(kind: "store_write_failed", detail: "\(error)")
        }
    }

    /// After a durable commit: answers its audit callers, counts it, wakes `flush()` callers
    /// and tells the commit handler which numbers became durable.
    private func settle(_ batch: [Pending], committed draft: CommitDraft) {
        if writeFailing {
            writeFailing = false
            logger.notice("store commits succeed again")
            raiseStoreAlarm(kind: "store_write_restored", detail: "commits succeed again")
        }
        for (entry, completion) in draft.audited { completion(.success(entry)) }
        let rows = UInt64(batch.reduce(0) { $1.countsAsRow ? $0 + 1 : $0 })
        let handler = condition.withLock { () -> (@Sendable ([CommittedRange]) -> Void)? in
            committedCount += UInt64(batch.count)
            committedRowsTotal += rows
            lastCommitAt = MonotonicClock.now()
            commitsFailing = false
            diskFull = false
            return onCommit
        }
        resumeFlushWaiters()
        if let handler, !draft.ranges.isEmpty {
            handler(draft.ranges.map { CommittedRange(stream: $0.key, first: $0.value.first, last: $0.value.last) }
                .sorted { $0.stream < $1.stream })
        }
    }
}
