import Foundation
import Hashing
import Logging

/// A month of samples written out with its manifest and dropped from the database, and brought
/// back (docs/control-site.md, "Months and archives"). Only a settled month goes: every batch with
/// samples in it certified or rejected with its record unchanged since, no open dispute on its
/// records, every stream complete through them. The rows are written from one snapshot, then,
/// with the month's streams locked against ingest, found unchanged, recorded as archived and
/// dropped in one transaction; the manifest's SHA-256 is kept, so only that archive restores.
public enum SampleArchive {
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `YYYY-MM` to the partition's name and bounds; nil when not a month.
    static func partition(_ month: String) -> (name: String, from: String, to: String)? {
        let parts = month.split(separator: "-", omittingEmptySubsequences: false)
        guard month.count == 7, parts.count == 2, let year = Int(parts[0]), let m = Int(parts[1]), (1000...9999).contains(year),
              (1...12).contains(m), parts[0].allSatisfy(\.isNumber), parts[1].allSatisfy(\.isNumber) else { return nil }
        let next = m == 12 ? String(format: "%04d-01", year + 1) : String(format: "%04d-%02d", year, m + 1)
        return ("samples_\(parts[0])_\(parts[1])", "\(month)-01T00:00:00Z", "\(next)-01T00:00:00Z")
    }

    /// The months before `before` that have a partition, oldest first. Rows of such months that
    /// wait in the default partition are moved into their month's partition first.
    public static func months(before: String, on connection: PostgresConnection) throws -> [String] {
        guard let bound = partition(before) else { throw Refusal(description: "--before: expected a month as YYYY-MM, not '\(before)'") }
        let waiting = try connection.execute("""
            SELECT DISTINCT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM') AS month FROM samples_default WHERE time < $1::timestamptz
            """, [bound.from])
        for month in waiting.map({ $0.string("month") ?? "" }) where partition(month) != nil {
            try connection.execute("SELECT samples_month_partition(($1 || '-01T00:00:00Z')::timestamptz)", [month])
        }
        let attached = try connection.execute("""
            SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass AND c.relname ~ '^samples_[0-9]{4}_[0-9]{2}$' ORDER BY c.relname
            """)
        return attached.map { row in
            let name = row.string("name") ?? ""
            return "\(name.dropFirst(8).prefix(4))-\(name.suffix(2))"
        }.filter { $0 < before }
    }

    /// Why `month` may not be archived now; empty when it may.
    static func obstacles(_ table: String, on connection: PostgresConnection) throws -> [String] {
        var found: [String] = []
        let incomplete = try connection.execute("""
            SELECT s.site, s.stream, max(s.seq) AS highest, t.contiguous
            FROM \(table) s LEFT JOIN streams t ON t.site = s.site AND t.epoch = s.epoch AND t.stream = s.stream
            GROUP BY s.site, s.epoch, s.stream, t.contiguous
            HAVING t.contiguous IS NULL OR max(s.seq) > t.contiguous
            ORDER BY s.site, s.stream LIMIT 5
            """)
        found += incomplete.map { r in
            "\(r.string("site") ?? "") \(r.string("stream") ?? ""): records to \(r.string("highest") ?? "?") in this month, but the stream is "
                + "complete only to \(r.string("contiguous") ?? "nothing") (a gap before them may still be filled)"
        }
        let unsettled = try connection.execute("""
            SELECT b.site, b.batch, coalesce(d.state, 'no disposition') AS state, d.record_changed IS NOT NULL AS changed
            FROM (SELECT DISTINCT site, batch FROM \(table) WHERE batch IS NOT NULL) b
            LEFT JOIN batch_dispositions d ON d.site = b.site AND d.batch = b.batch
            WHERE d.state IS NULL OR d.state NOT IN ('certified', 'rejected') OR d.record_changed IS NOT NULL
            ORDER BY b.site, b.batch LIMIT 5
            """)
        found += unsettled.map { r in
            "batch \(r.string("batch") ?? "") at \(r.string("site") ?? ""): "
                + (r.bool("changed") == true ? "its record changed after it was signed"
                    : "\(r.string("state") ?? "") (only a certified or rejected batch's records are archived)")
        }
        let disputed = try connection.execute("""
            SELECT d.site, d.stream, d.seq FROM record_disputes d
            WHERE d.resolved IS NULL AND EXISTS (SELECT 1 FROM \(table) s WHERE s.site = d.site AND s.epoch = d.epoch
                                                                             AND s.stream = d.stream AND s.seq = d.seq)
            ORDER BY d.site, d.stream, d.seq LIMIT 5
            """)
        found += disputed.map { r in "record \(r.string("seq") ?? "") of \(r.string("stream") ?? "") at \(r.string("site") ?? "") is disputed" }
        return found
    }

    static func checksum(_ table: String, on connection: PostgresConnection) throws -> String {
        try connection.execute("""
            SELECT count(*) || ' ' || coalesce(sum(hashtextextended(s::text, 0)::numeric), 0) AS sum FROM \(table) s
            """).string(0, "sum") ?? ""
    }

    static func columns(on connection: PostgresConnection) throws -> [String] {
        try connection.execute("""
            SELECT attname FROM pg_attribute WHERE attrelid = 'samples'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """).map { $0.string("attname") ?? "" }
    }

    static func rowsInOrder(_ table: String, _ columns: [String]) -> String {
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        return "COPY (SELECT \(list) FROM \(table) ORDER BY site, epoch, stream, seq) TO STDOUT"
    }

    /// Writes `month` to `directory` (its rows and manifest), then drops it from the database.
    public static func archive(month: String, to directory: String, by user: String, on connection: PostgresConnection,
                               logger: Logger) throws -> SampleArchiveManifest {
        guard let part = partition(month) else { throw Refusal(description: "expected a month as YYYY-MM, not '\(month)'") }
        guard try connection.execute("SELECT to_regclass($1) IS NOT NULL AS present", [part.name]).bool(0, "present") == true else {
            throw Refusal(description: "\(month): no samples of this month are held (archived already, or none arrived)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let rowsName = SampleArchiveManifest.rowsFileName(month: month), rowsPath = "\(directory)/\(rowsName)"

        // 1. The rows and what the manifest says of them, from one snapshot, without holding up ingest.
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        let manifest: SampleArchiveManifest, sum: String
        do {
            let problems = try obstacles(part.name, on: connection)
            guard problems.isEmpty else { throw Refusal(description: "\(month) is not archived: " + problems.joined(separator: "; ")) }
            sum = try checksum(part.name, on: connection)
            let columns = try columns(on: connection)
            var digests = try StreamRowDigests(columns: columns)
            var file = SHA256Stream()
            let writer = try ArchiveFileWriter(path: rowsPath + ".partial")
            try connection.copyOut(rowsInOrder(part.name, columns)) { line in
                try digests.add(line)
                file.update(line)
                try writer.write(line)
            }
            try writer.finish()
            let batches = try connection.execute(
                "SELECT DISTINCT site || '/' || batch AS b FROM \(part.name) WHERE batch IS NOT NULL ORDER BY 1").map { $0.string("b") ?? "" }
            try connection.execute("COMMIT")
            let streams = digests.finish()
            manifest = SampleArchiveManifest(
                month: month, from: part.from, to: part.to, columns: columns, file: rowsName, fileSHA256: file.finalHex(),
                samples: digests.rows, streams: streams, batches: batches, archived: ISO8601DateFormatter().string(from: Date()), archivedBy: user)
        } catch {
            connection.rollback()
            try? FileManager.default.removeItem(atPath: rowsPath + ".partial")
            throw error
        }
        try FileManager.default.moveItemReplacing(at: rowsPath + ".partial", to: rowsPath)
        let manifestBytes = try manifest.encoded()
        let manifestWriter = try ArchiveFileWriter(path: "\(directory)/\(SampleArchiveManifest.fileName(month: month))")
        try manifestBytes.withUnsafeBytes { try manifestWriter.write($0) }
        try manifestWriter.finish()
        let manifestHash = SHA256.hex(Array(manifestBytes))

        // 2. With the month's streams locked against ingest: unchanged since, recorded, dropped.
        try connection.transaction {
            for s in manifest.streams {
                try connection.execute("SELECT 1 FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE", [s.site, s.epoch, s.stream])
            }
            try connection.execute("LOCK TABLE \(part.name) IN SHARE MODE")
            let problems = try obstacles(part.name, on: connection)
            guard problems.isEmpty else { throw Refusal(description: "\(month) is not archived: " + problems.joined(separator: "; ")) }
            guard try checksum(part.name, on: connection) == sum else {
                throw Refusal(description: "\(month) is not archived: its samples changed while they were written out; run the command again")
            }
            try connection.execute("""
                INSERT INTO archived_months (month, archived_by, location, manifest_sha256, samples) VALUES ($1::date, $2, $3, $4, $5)
                """, [part.from.prefix(10).description, user, directory, manifestHash, String(manifest.samples)])
            for s in manifest.streams {
                try connection.execute("""
                    INSERT INTO archived_ranges (month, site, epoch, stream, seq_from, seq_to, samples, first_previous_hash, last_hash)
                    VALUES ($1::date, $2, $3, $4, $5, $6, $7, $8, $9)
                    """, [part.from.prefix(10).description, s.site, s.epoch, s.stream, String(s.seqFrom), String(s.seqTo), String(s.samples),
                          s.firstPreviousHash, s.lastHash])
            }
            try connection.execute("ALTER TABLE samples DETACH PARTITION \(part.name)")
            try connection.execute("DROP TABLE \(part.name)")
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "samples.archive", target: month,
                newValue: "\(manifest.samples) samples of \(manifest.streams.count) streams to \(directory), manifest SHA-256 \(manifestHash)"), to: connection)
        }
        logger.notice("month of samples archived", metadata: [
            "month": "\(month)", "samples": "\(manifest.samples)", "streams": "\(manifest.streams.count)", "to": "\(directory)",
        ])
        return manifest
    }

    /// Brings `month` back from `directory`: the manifest must be the one recorded when it was
    /// archived, the file must hash to what the manifest says, and every stream's rows as the
    /// database then holds them must digest to the manifest's, or nothing is attached.
    public static func restore(month: String, from directory: String, by user: String, on connection: PostgresConnection,
                               logger: Logger) throws -> SampleArchiveManifest {
        guard let part = partition(month) else { throw Refusal(description: "expected a month as YYYY-MM, not '\(month)'") }
        let manifestPath = "\(directory)/\(SampleArchiveManifest.fileName(month: month))"
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw Refusal(description: "\(manifestPath): cannot be read")
        }
        let recorded = try connection.execute("SELECT manifest_sha256 FROM archived_months WHERE month = $1::date", [String(part.from.prefix(10))])
        guard let expected = recorded.rowCount > 0 ? recorded.string(0, "manifest_sha256") : nil else {
            throw Refusal(description: "\(month) is not archived")
        }
        let manifestHash = SHA256.hex(Array(manifestData))
        guard manifestHash == expected else {
            throw Refusal(description: "\(manifestPath) is not the manifest recorded when \(month) was archived "
                          + "(SHA-256 \(manifestHash.prefix(16))…, recorded \(expected.prefix(16))…)")
        }
        let manifest: SampleArchiveManifest
        do {
            manifest = try JSONDecoder().decode(SampleArchiveManifest.self, from: manifestData)
        } catch {
            throw Refusal(description: "\(manifestPath): not a manifest (\(error))")
        }
        guard manifest.format == SampleArchiveManifest.formatName, manifest.month == month, !manifest.file.contains("/") else {
            throw Refusal(description: "\(manifestPath): a manifest of \(manifest.month) in format \(manifest.format)")
        }
        let rowsPath = "\(directory)/\(manifest.file)"
        let fileHash = try ArchiveFileReader.sha256(path: rowsPath)
        guard fileHash == manifest.fileSHA256 else {
            throw Refusal(description: "\(rowsPath) has SHA-256 \(fileHash.prefix(16))…, the manifest says \(manifest.fileSHA256.prefix(16))…: not restored")
        }
        let current = try columns(on: connection)
        guard Set(manifest.columns).isSubset(of: Set(current)) else {
            throw Refusal(description: "\(manifestPath): columns \(Set(manifest.columns).subtracting(current).sorted()) are not samples' columns")
        }

        try connection.transaction {
            try connection.execute("CREATE TABLE \(part.name) (LIKE samples INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
            let reader = try ArchiveFileReader(path: rowsPath)
            let list = manifest.columns.map { "\"\($0)\"" }.joined(separator: ", ")
            try connection.copy("COPY \(part.name) (\(list)) FROM STDIN", pieces: { try reader.next() })
            try connection.execute("ALTER TABLE \(part.name) ADD PRIMARY KEY (site, epoch, stream, seq, time)")
            var digests = try StreamRowDigests(columns: manifest.columns)
            try connection.copyOut(rowsInOrder(part.name, manifest.columns)) { try digests.add($0) }
            let streams = digests.finish()
            guard streams == manifest.streams, digests.rows == manifest.samples else {
                let differing = zip(streams, manifest.streams).first { $0 != $1 }.map { "\($0.1.site) \($0.1.stream)" } ?? "the streams listed"
                throw Refusal(description: "\(month): the rows restored do not match the manifest (\(digests.rows) samples, "
                              + "manifest \(manifest.samples); first difference: \(differing)): not restored")
            }
            // Records of the month that arrived after it was archived wait in the default partition.
            try connection.execute("""
                WITH moved AS (DELETE FROM samples_default WHERE time >= $1::timestamptz AND time < $2::timestamptz RETURNING *)
                INSERT INTO \(part.name) SELECT * FROM moved
                """, [part.from, part.to])
            try connection.execute("ALTER TABLE samples ATTACH PARTITION \(part.name) FOR VALUES FROM ('\(part.from)') TO ('\(part.to)')")
            try connection.execute("DELETE FROM archived_months WHERE month = $1::date", [String(part.from.prefix(10))])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "samples.restore", target: month,
                newValue: "\(manifest.samples) samples of \(manifest.streams.count) streams from \(directory), manifest SHA-256 \(manifestHash)"),
                to: connection)
        }
        logger.notice("month of samples restored", metadata: ["month": "\(month)", "samples": "\(manifest.samples)", "from": "\(directory)"])
        return manifest
    }

    /// The archived months a batch's records reach into, with where each was written; empty
    /// when all of its records are here.
    public static func archivedMonths(site: String, batch: String, on connection: PostgresConnection) throws -> [(month: String, location: String)] {
        try connection.execute("""
            SELECT DISTINCT to_char(m.month, 'YYYY-MM') AS month, m.location
            FROM batch_runs r
            JOIN archived_ranges a ON a.site = r.site AND a.epoch = r.epoch AND a.stream = r.stream
                                  AND a.seq_from <= r.last_seq AND a.seq_to >= r.first_seq
            JOIN archived_months m ON m.month = a.month
            WHERE r.site = $1 AND r.batch = $2 ORDER BY 1
            """, [site, batch]).map { ($0.string("month") ?? "", $0.string("location") ?? "") }
    }
}

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
