import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hashing

/// Writes an archive file in large pieces and makes it durable before the rows are dropped.
final class ArchiveFileWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw SampleArchive.Refusal(description: "\(path): cannot be created")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Written, on disk, closed.
    func finish() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
    }

    /// `bytes` as the whole of `path`, on disk, replacing what was there only once complete.
    static func write(_ bytes: Data, to path: String) throws {
        let writer = try ArchiveFileWriter(path: path + ".partial")
        try bytes.withUnsafeBytes { try writer.write($0) }
        try writer.finish()
        try FileManager.default.moveItemReplacing(at: path + ".partial", to: path)
    }

    /// The directory's entries (the files renamed into it) on disk.
    static func synchronizeDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw SampleArchive.Refusal(description: "\(path): cannot be opened to make it durable") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw SampleArchive.Refusal(description: "\(path): cannot be made durable (fsync)") }
    }
}

/// Reads an archive file a megabyte at a time.
final class ArchiveFileReader {
    private let handle: FileHandle

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw SampleArchive.Refusal(description: "\(path): cannot be read") }
        self.handle = handle
    }

    deinit { try? handle.close() }

    func next() throws -> [UInt8]? {
        guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
        return Array(data)
    }

    static func sha256(path: String) throws -> String {
        let reader = try ArchiveFileReader(path: path)
        var hasher = SHA256Stream()
        while let piece = try reader.next() { hasher.update(piece) }
        return hasher.finalHex()
    }
}

extension FileManager {
    func moveItemReplacing(at source: String, to destination: String) throws {
        if fileExists(atPath: destination) { try removeItem(atPath: destination) }
        try moveItem(atPath: source, toPath: destination)
    }
}
