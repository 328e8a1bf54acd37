import CSQLite
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

// MARK: Producers (any thread)

extension SiteStore {

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
    func resumeFlushWaiters(all: Bool = false) {
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

    func enqueue(_ item: Pending, urgent isUrgent: Bool = false) {
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
}
