import CSQLite
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

// MARK: Maintenance: free space, the file, and pruning

extension SiteStore {

    func maintain() {
        pruneDelivered()
    }

    /// Free bytes on the store's file system, for a non-root process.
    public static func freeBytes(at path: String) -> Int64? {
        var info = statvfs()
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard statvfs(directory, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    func checkFreeSpace() {
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
    func checkFile() {
        guard condition.withLock({ fileProblem == nil }), let problem = file.check() else { return }
        condition.withLock { fileProblem = problem }
        logger.critical("\(problem.description)", metadata: ["path": "\(settings.path)", "epoch": "\(epoch)"])
        raiseStoreAlarm(kind: problem == .deleted ? "store_file_deleted" : "store_file_replaced", detail: problem.description)
    }

    /// Records a store alarm on the site's event stream (kept in memory until it can be written).
    func raiseStoreAlarm(kind: String, detail: String) {
        let time = Date()
        let body = #"{"kind":"\#(kind)","device":"site","time":"\#(UTCTime.format(time))","detail":\#(CanonicalJSON.string(detail)),"path":\#(CanonicalJSON.string(settings.path))}"#
        enqueue(.event(EventRecord(stream: .siteEvents, device: "site", time: time, kind: kind, body: body)), urgent: true)
    }

    /// The last number of `stream` up to `head` the store no longer holds (signed in each
    /// checkpoint, so the Control Site can tell a real prune from a forged answer); nil: none.
    func prunedThrough(_ stream: String, head: Int64) throws(SQLiteError) -> Int64? {
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
