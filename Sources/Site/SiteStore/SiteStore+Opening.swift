import CSQLite
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

// Opening the store: its identity, write access, schema and the chain heads it continues.
extension SiteStore {
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
    static func requireWriteAccess(_ path: String) throws(SQLiteError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        for target in [path, directory] where access(target, W_OK) != 0 {
            throw SQLiteError(
                code: SQLITE_READONLY, message: "the store \(path) cannot be written: \(target): \(String(cString: strerror(errno)))", sql: nil)
        }
    }

    /// One small write at start: a store that cannot take it is refused with SQLite's reason.
    static func proveWritable(_ connection: SQLiteConnection, path: String, logger: Logger) throws(SQLiteError) {
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

    func migrate() throws(SQLiteError) {
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

    func loadState() throws(SQLiteError) {
        let streams = try connection.prepare("SELECT stream, last_seq, head_hash FROM streams")
        while try streams.step() {
            let stream = streams.text(0) ?? ""
            lastSeq[stream] = streams.int64(1)
            if let head = streams.text(2) { lastHash[stream] = head }
        }
        if let hash = try connection.scalar("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") { lastAuditHash = hash }
    }
}
