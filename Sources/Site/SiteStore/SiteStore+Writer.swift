import CSQLite
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

// MARK: Writer thread

extension SiteStore {

    func runWriter() {
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
        sampleInsert = nil
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

    func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached.reset() }
        let prepared = try connection.prepare(sql)
        statements[sql] = prepared
        return prepared
    }
}
