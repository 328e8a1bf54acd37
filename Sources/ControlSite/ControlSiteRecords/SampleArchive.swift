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
        }.filter { $0 < before && $0 < currentMonth() }
    }

    /// This month (UTC), which is not archived before it has ended.
    static func currentMonth() -> String { String(ISO8601DateFormatter().string(from: Date()).prefix(7)) }

    /// One archive or restore at a time on a database, for as long as `body` runs.
    static func exclusively<T>(on connection: PostgresConnection, _ body: () throws -> T) throws -> T {
        guard try connection.execute("SELECT pg_try_advisory_lock(7146357) AS got").bool(0, "got") == true else {
            throw Refusal(description: "another archive or restore is running on this database; try again when it has finished")
        }
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(7146357)") }
        // Times as text in one form, whatever the server's or the client's setting: the rows'
        // digests and the COPY text are then the same on every server the archive meets.
        try connection.execute("SET TimeZone = 'UTC'")
        try connection.execute("SET DateStyle = 'ISO, YMD'")
        return try body()
    }

    /// Why `month` may not be archived now; empty when it may.
    static func obstacles(_ table: String, on connection: PostgresConnection) throws -> [String] {
        var found: [String] = []
        // Complete: no gap before the month's last record that may still be filled (a gap the site
        // said it can never send is settled), and the numbers from its first to its last record
        // all in this month (a site clock set back puts some of them in another).
        let incomplete = try connection.execute("""
            SELECT m.site, m.stream, m.first, m.last, m.samples, t.site IS NULL AS unknown,
                   (SELECT min(g.seq_from) FROM gaps g WHERE g.site = m.site AND g.epoch = m.epoch AND g.stream = m.stream
                       AND g.seq_from <= m.last AND g.seq_to > coalesce(t.unrecoverable_through, 0)) AS gap
            FROM (SELECT site, epoch, stream, min(seq) AS first, max(seq) AS last, count(*) AS samples FROM \(table)
                  GROUP BY site, epoch, stream) m
            LEFT JOIN streams t ON t.site = m.site AND t.epoch = m.epoch AND t.stream = m.stream
            WHERE t.site IS NULL OR m.samples <> m.last - m.first + 1
               OR EXISTS (SELECT 1 FROM gaps g WHERE g.site = m.site AND g.epoch = m.epoch AND g.stream = m.stream
                              AND g.seq_from <= m.last AND g.seq_to > coalesce(t.unrecoverable_through, 0))
            ORDER BY m.site, m.stream LIMIT 5
            """)
        found += incomplete.map { r in
            let stream = "\(r.string("site") ?? "") \(r.string("stream") ?? "")", first = r.string("first") ?? "?", last = r.string("last") ?? "?"
            if r.bool("unknown") == true { return "\(stream): a stream ingest has no progress of" }
            if let gap = r.string("gap") {
                return "\(stream): records to \(last) in this month, but records from \(gap) are missing and may still arrive"
            }
            return "\(stream): only \(r.string("samples") ?? "?") of the numbers \(first)...\(last) are in this month (the others were "
                + "taken at times in another month: the site's clock went back?)"
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
        // Byte order, whatever the database's collation: the same on every server the archive meets.
        return "COPY (SELECT \(list) FROM \(table) ORDER BY site COLLATE \"C\", epoch COLLATE \"C\", stream COLLATE \"C\", seq) TO STDOUT"
    }

    /// The month's partition of `sample_chunks`.
    static func chunkPartition(_ part: (name: String, from: String, to: String)) -> String {
        "sample_chunks_" + part.name.dropFirst("samples_".count)
    }

    /// The month's chunks made rows again, a stream at a time under its lock: a month is written
    /// out, proved by its manifest and restored as rows, as it always was; once restored, its
    /// settled rows are kept as chunks again.
    static func expandChunks(_ part: (name: String, from: String, to: String), on connection: PostgresConnection) throws {
        let chunks = chunkPartition(part)
        guard try connection.execute("SELECT to_regclass($1) IS NOT NULL AS present", [chunks]).bool(0, "present") == true else { return }
        let streams = try connection.execute("""
            SELECT site, epoch, stream, min(seq_first) AS lo, max(seq_first + n - 1) AS hi FROM \(chunks) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """)
        for row in streams.map({ $0 }) {
            let key = [row.string("site") ?? "", row.string("epoch") ?? "", row.string("stream") ?? ""]
            try connection.transaction {
                try connection.execute("SELECT 1 FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE", key)
                try connection.execute("SELECT sample_chunks_expand($1, $2, $3, $4::bigint, $5::bigint)",
                                       key + [row.string("lo") ?? "0", row.string("hi") ?? "0"])
            }
        }
    }

    /// Writes `month` to `directory` (its rows and manifest), then drops it from the database.
    public static func archive(month: String, to directory: String, by user: String, on connection: PostgresConnection,
                               logger: Logger) throws -> SampleArchiveManifest {
        guard let part = partition(month) else { throw Refusal(description: "expected a month as YYYY-MM, not '\(month)'") }
        guard month < currentMonth() else { throw Refusal(description: "\(month) has not ended: only past months are archived") }
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        return try exclusively(on: connection) {
            guard try connection.execute("SELECT to_regclass($1) IS NOT NULL AS present", [part.name]).bool(0, "present") == true else {
                throw Refusal(description: "\(month): no samples of this month are held (archived already, or none arrived)")
            }
            try expandChunks(part, on: connection)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let (manifest, sum) = try writeRows(month: month, part: part, to: directory, by: user, on: connection)
            let manifestBytes = try manifest.encoded()
            let manifestName = SampleArchiveManifest.fileName(month: month)
            try ArchiveFileWriter.write(manifestBytes, to: "\(directory)/\(manifestName)")
            // What is dropped next must be on disk as the manifest says, read back from there.
            guard try ArchiveFileReader.sha256(path: "\(directory)/\(manifest.file)") == manifest.fileSHA256 else {
                throw Refusal(description: "\(directory)/\(manifest.file) does not read back as written: \(month) is not archived")
            }
            try ArchiveFileWriter.synchronizeDirectory(directory)
            let manifestHash = SHA256.hex(Array(manifestBytes))
            try dropArchived(month: month, part: part, manifest: manifest, manifestHash: manifestHash, checksum: sum, directory: directory,
                             by: user, on: connection)
            logger.notice("month of samples archived", metadata: [
                "month": "\(month)", "samples": "\(manifest.samples)", "streams": "\(manifest.streams.count)", "to": "\(directory)",
            ])
            return manifest
        }
    }

    /// The month's rows written to the directory from one snapshot, without holding up ingest;
    /// the manifest and the rows' checksum in that snapshot.
    static func writeRows(month: String, part: (name: String, from: String, to: String), to directory: String, by user: String,
                          on connection: PostgresConnection) throws -> (SampleArchiveManifest, String) {
        let rowsName = SampleArchiveManifest.rowsFileName(month: month), rowsPath = "\(directory)/\(rowsName)"
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            let problems = try obstacles(part.name, on: connection)
            guard problems.isEmpty else { throw Refusal(description: "\(month) is not archived: " + problems.joined(separator: "; ")) }
            let sum = try checksum(part.name, on: connection)
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
            try FileManager.default.moveItemReplacing(at: rowsPath + ".partial", to: rowsPath)
            let manifest = SampleArchiveManifest(
                month: month, from: part.from, to: part.to, columns: columns, file: rowsName, fileSHA256: file.finalHex(),
                samples: digests.rows, streams: digests.finish(), batches: batches,
                archived: ISO8601DateFormatter().string(from: Date()), archivedBy: user)
            return (manifest, sum)
        } catch {
            connection.rollback()
            try? FileManager.default.removeItem(atPath: rowsPath + ".partial")
            throw error
        }
    }

    /// With the month's streams locked against ingest: unchanged since it was written, recorded
    /// as archived, detached and dropped, in one transaction. Locks are taken in ingest's order
    /// (streams, then samples) and waited for a bounded time; a deadlock or a wait too long is
    /// tried again, then refused with nothing dropped.
    static func dropArchived(month: String, part: (name: String, from: String, to: String), manifest: SampleArchiveManifest,
                             manifestHash: String, checksum sum: String, directory: String, by user: String,
                             on connection: PostgresConnection) throws {
        let streams = manifest.streams.sorted { ($0.site, $0.epoch, $0.stream) < ($1.site, $1.epoch, $1.stream) }
        for attempt in 1...3 {
            do {
                try connection.transaction {
                    try connection.execute("SET LOCAL lock_timeout = '30s'")
                    for s in streams {
                        try connection.execute("SELECT 1 FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE",
                                               [s.site, s.epoch, s.stream])
                    }
                    // Only the month's own writers wait while it is checked; all of samples only for the drop.
                    try connection.execute("LOCK TABLE \(part.name) IN SHARE MODE")
                    let problems = try obstacles(part.name, on: connection)
                    guard problems.isEmpty else { throw Refusal(description: "\(month) is not archived: " + problems.joined(separator: "; ")) }
                    guard try checksum(part.name, on: connection) == sum else {
                        throw Refusal(description: "\(month) is not archived: its samples changed while they were written out; run the command again")
                    }
                    try connection.execute("""
                        INSERT INTO archived_months (month, archived_by, location, manifest_sha256, samples) VALUES ($1::date, $2, $3, $4, $5)
                        """, [String(part.from.prefix(10)), user, directory, manifestHash, String(manifest.samples)])
                    for s in streams {
                        try connection.execute("""
                            INSERT INTO archived_ranges (month, site, epoch, stream, seq_from, seq_to, samples, first_previous_hash, last_hash)
                            VALUES ($1::date, $2, $3, $4, $5, $6, $7, $8, $9)
                            """, [String(part.from.prefix(10)), s.site, s.epoch, s.stream, String(s.seqFrom), String(s.seqTo), String(s.samples),
                                  s.firstPreviousHash, s.lastHash])
                    }
                    // A detach fires no row trigger: each batch of the month is marked changed here, so nothing read of it
                    // before (a kept hash, a page's statistics) is taken for its record while, or after, the month is away.
                    try connection.execute("SELECT batch_record_touch(site, batch) FROM (SELECT DISTINCT site, batch FROM \(part.name) WHERE batch IS NOT NULL) b")
                    try connection.execute("ALTER TABLE samples DETACH PARTITION \(part.name)")
                    try connection.execute("DROP TABLE \(part.name)")
                    let chunks = chunkPartition(part)
                    if try connection.execute("SELECT to_regclass($1) IS NOT NULL AS present", [chunks]).bool(0, "present") == true {
                        guard try connection.execute("SELECT NOT EXISTS (SELECT 1 FROM \(chunks)) AS empty").bool(0, "empty") == true else {
                            throw Refusal(description: "\(month) is not archived: samples of it were kept as chunks again while it was written out")
                        }
                        try connection.execute("DROP TABLE \(chunks)")
                    }
                    try ControlAuditTrail.append(ControlAuditAction(
                        user: user, action: "samples.archive", target: month,
                        newValue: "\(manifest.samples) samples of \(manifest.streams.count) streams to \(directory), manifest SHA-256 \(manifestHash)"),
                        to: connection)
                }
                return
            } catch let error as PostgresError where ["40P01", "55P03"].contains(error.sqlState ?? "") {
                guard attempt < 3 else {
                    throw Refusal(description: "\(month) is not archived: the database stayed busy (\(error.message)); run the command again")
                }
            }
        }
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
