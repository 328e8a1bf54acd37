import POCareContract
import ControlSiteRecords
import Foundation

/// A month's partitions of chunks and rollups archived and restored, as `pocare-control archive`
/// and `restore` would: a manifest per table (rows, and per stream the records, numbers and
/// chain anchors, with a digest over them), the partition detached and written out in COPY text
/// form (readable without PostgreSQL), dropped; then read back, checked against its manifest and
/// attached again. The files are written by the server (COPY TO a file), so this needs a local cluster.
struct ArchiveMonth {
    let connection: PostgresConnection
    let month: String
    let bounds: (from: Int64, to: Int64)
    let directory: String

    /// Per stream: chunks, records, first and last number, the hash before the first record and
    /// of the last, and a SHA-256 over every chunk's last hash in order.
    func manifest(_ table: String) throws -> [String] {
        try connection.execute("""
            SELECT stream_id || ' ' || count(*) || ' ' || sum(n) || ' ' || min(seq_first) || '...' || max(seq_first + n - 1) || ' '
                   || encode((array_agg(previous_hash ORDER BY seq_first))[1], 'hex') || ' '
                   || encode((array_agg(last_hash ORDER BY seq_first DESC))[1], 'hex') || ' '
                   || encode(sha256(string_agg(last_hash, ''::bytea ORDER BY seq_first)), 'hex') AS line
            FROM \(table) GROUP BY stream_id ORDER BY stream_id
            """).map { $0.string("line")! }
    }

    func rollupManifest(_ table: String) throws -> String {
        try connection.execute("""
            SELECT count(*) || ' rows, ' || sum(samples) || ' samples, digest '
                   || encode(sha256(string_agg(stream_id || ':' || minute || ':' || context_id || ':' || samples || ':' || wsum::text, ','
                                               ORDER BY stream_id, minute, context_id)::bytea), 'hex') AS line
            FROM \(table)
            """).string(0, "line")!
    }

    func run() throws {
        let chunks = "sample_chunks_\(month)", rollups = "minute_rollups_\(month)"
        let minuteFrom = bounds.from / DesignSchema.nanosecondsPerMinute, minuteTo = bounds.to / DesignSchema.nanosecondsPerMinute
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try? Self.tool("/bin/chown", ["postgres", directory])
        let before = try manifest(chunks), rollupsBefore = try rollupManifest(rollups)
        let rows = try connection.execute("SELECT count(*) FROM \(chunks)").int(0, 0) ?? 0
        try (["table \(chunks) [\(bounds.from), \(bounds.to)) \(rows) rows", "stream chunks records numbers previous_hash last_hash digest"]
             + before + ["table \(rollups) [\(minuteFrom), \(minuteTo)) " + rollupsBefore])
            .joined(separator: "\n").write(toFile: "\(directory)/manifest.txt", atomically: true, encoding: .utf8)

        let clock = ContinuousClock(), started = clock.now
        try connection.execute("ALTER TABLE sample_chunks DETACH PARTITION \(chunks)")
        try connection.execute("ALTER TABLE minute_rollups DETACH PARTITION \(rollups)")
        try connection.execute("COPY \(chunks) TO '\(directory)/\(chunks).copy'")
        try connection.execute("COPY \(rollups) TO '\(directory)/\(rollups).copy'")
        try connection.execute("DROP TABLE \(chunks), \(rollups)")
        let archived = clock.now - started
        let size = ((try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(chunks).copy")[.size]) as? Int) ?? 0
        let digest = (try? Self.tool("/usr/bin/sha256sum", ["\(directory)/\(chunks).copy"]))?.prefix(64) ?? "?"
        _ = try? Self.tool("/bin/gzip", ["-k", "-6", "\(directory)/\(chunks).copy"])
        let compressed = ((try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(chunks).copy.gz")[.size]) as? Int) ?? 0
        say("archived \(month): \(rows) chunk rows detached, written and dropped in \(StoreDesignBenchmark.seconds(archived)) s; "
            + "\(size / 1_048_576) MiB of COPY text (\(compressed / 1_048_576) MiB gzip -6), SHA-256 \(digest)")

        let restoring = clock.now
        try connection.executeScript("""
            CREATE TABLE \(chunks) (LIKE sample_chunks INCLUDING DEFAULTS) WITH (toast_tuple_target = 128);
            ALTER TABLE \(chunks)
                ALTER COLUMN offsets SET STORAGE MAIN, ALTER COLUMN offsets SET COMPRESSION lz4,
                ALTER COLUMN offsets_ns SET STORAGE MAIN, ALTER COLUMN offsets_ns SET COMPRESSION lz4,
                ALTER COLUMN narrow SET STORAGE MAIN, ALTER COLUMN narrow SET COMPRESSION lz4,
                ALTER COLUMN wide SET STORAGE MAIN, ALTER COLUMN wide SET COMPRESSION lz4,
                ALTER COLUMN hashes SET STORAGE MAIN, ALTER COLUMN hashes SET COMPRESSION lz4;
            COPY \(chunks) FROM '\(directory)/\(chunks).copy';
            ALTER TABLE \(chunks) ADD PRIMARY KEY (site_id, stream_id, seq_first),
                ADD CONSTRAINT \(chunks)_month CHECK (first_ns >= \(bounds.from) AND first_ns < \(bounds.to));
            CREATE TABLE \(rollups) (LIKE minute_rollups INCLUDING DEFAULTS);
            COPY \(rollups) FROM '\(directory)/\(rollups).copy';
            ALTER TABLE \(rollups) ADD PRIMARY KEY (site_id, stream_id, minute, context_id),
                ADD CONSTRAINT \(rollups)_month CHECK (minute >= \(minuteFrom) AND minute < \(minuteTo));
            """)
        let after = try manifest(chunks), rollupsAfter = try rollupManifest(rollups)
        guard after == before, rollupsAfter == rollupsBefore else {
            say("restore of \(month): the restored tables do NOT match the manifest; not attached")
            return
        }
        // The CHECK constraint spares ATTACH a scan of the table.
        try connection.execute("ALTER TABLE sample_chunks ATTACH PARTITION \(chunks) FOR VALUES FROM (\(bounds.from)) TO (\(bounds.to))")
        try connection.execute("ALTER TABLE minute_rollups ATTACH PARTITION \(rollups) FOR VALUES FROM (\(minuteFrom)) TO (\(minuteTo))")
        say("restored \(month): read back, matched its manifest (\(after.count) streams, rollups \(rollupsAfter.prefix(40))…) "
            + "and attached in \(StoreDesignBenchmark.seconds(clock.now - restoring)) s")
    }

    @discardableResult
    static func tool(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}
