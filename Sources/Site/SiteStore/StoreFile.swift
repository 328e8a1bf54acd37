import Foundation
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

/// The store's file on disk, watched for what SQLite cannot notice: the file being deleted
/// or replaced while the daemon has it open. SQLite keeps writing into an unlinked file
/// without complaint, so every commit after a deletion would be lost at the next restart.
///
/// Keeps a descriptor of its own on the file (the same inode as SQLite's) and compares it
/// with what the path names now.
final class StoreFile {
    typealias Problem = StoreFileProblem

    let path: String

    private let descriptor: Int32
    private let device: UInt64
    private let inode: UInt64

    /// Creates the file if needed with mode 0640 (whatever the umask), takes away any access
    /// for others, and opens a watching descriptor.
    init(path: String) throws(SQLiteError) {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: directory) {
            // A folder that cannot be made fails the open just below, with the reason.
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        if fd < 0 && (errno == EACCES || errno == EROFS) { fd = open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            throw SQLiteError(code: 14, message: "cannot open \(path): \(String(cString: strerror(errno)))", sql: nil)
        }
        var info = stat()
        fstat(fd, &info)
        // Samples, alarms and who did what: no business of other local users.
        if info.st_mode & 0o007 != 0 { fchmod(fd, info.st_mode & 0o770) }
        descriptor = fd
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    deinit { close(descriptor) }

    /// What is wrong with the file, or nil while it is the one at the path.
    func check() -> Problem? {
        var opened = stat()
        if fstat(descriptor, &opened) == 0 && opened.st_nlink == 0 { return .deleted }
        var named = stat()
        guard stat(path, &named) == 0 else { return errno == ENOENT ? .deleted : nil }
        return UInt64(named.st_dev) != device || UInt64(named.st_ino) != inode ? .replaced : nil
    }
}

/// What can happen to the store's file behind SQLite's back.
public enum StoreFileProblem: String, Sendable, Equatable, CustomStringConvertible {
    /// The file's last link is gone: nothing on disk will ever hold what is committed now.
    case deleted
    /// The path names another file than the one open (restored from a backup, moved).
    case replaced

    public var description: String {
        switch self {
        case .deleted: "the store file was deleted while open; commits go to a file no one can read again"
        case .replaced: "the store file was replaced while open; commits go to the old file, not the one at the path"
        }
    }
}

/// What the store's folder remembers of the store, in a small file beside it
/// (`site.db.identity`): the epoch of the store that was there. A daemon that finds this
/// file but no store knows a store was lost, and says so in the new store's first audit entry.
struct StoreIdentityMarker {
    let path: String

    init(storePath: String) { path = storePath + ".identity" }

    /// The epoch last written, if any.
    func read() -> String? {
        // No marker, or one that cannot be read, remembers no epoch: the store opens as it would without it.
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("epoch=") {
            return String(line.dropFirst("epoch=".count))
        }
        return nil
    }

    func write(epoch: String, createdAt: Date) {
        let text = "epoch=\(epoch)\ncreated=\(UTCTime.formatSeconds(createdAt))\n"
        let fd = open(path + ".new", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        rename(path + ".new", path)
    }
}
