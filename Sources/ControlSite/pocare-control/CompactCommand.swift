import ArgumentParser
import ControlSiteRecords
import Foundation
import Logging

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep settled samples as compact chunks now (run does it every compact_every).",
        discussion: """
            A stream's samples older than --older-than, with no gap below them and in no open finding or dispute, are \
            kept as one chunk per stream and ten minutes; each chunk is read back and compared with the rows it replaces, \
            column by column, before they go. Records read back byte for byte as before: pages, verify, signatures and \
            archives see no difference. The records held are counted before and after (exit 1 should fewer be held). \
            --prove also sums a 64-bit hash of every record as it reads back, before and after, and exits 1 if they \
            differ: for a migration, with ingest stopped (records arriving meanwhile change the figures).
            A database migrated from a release before chunks is compacted by this command or by run.
            Example:
              pocare-control compact --older-than 3600
              pocare-control compact --older-than 0 --prove
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Only this site's streams.") var site: String?
    @Option(help: "Keep as chunks the samples older than this many seconds.") var olderThan: Double = 3600
    @Flag(help: "Also hash every record as it reads back, before and after, and compare.") var prove = false

    func run() throws {
        guard olderThan >= 0, olderThan.isFinite else {
            note("--older-than: expected a number of seconds, at least 0")
            throw ExitStatus.usage
        }
        let connection = try db.connect()
        let logger = Logger(label: "pocare-control.compact")
        let before = try held(on: connection)
        let pass = try SampleCompaction(settledAfter: olderThan).run(site: site, on: connection, logger: logger)
        let after = try held(on: connection)
        emit("\(pass.records) samples of \(pass.streams) streams kept as chunks now; held: \(after.chunked) samples in "
             + "\(after.chunks) chunks, \(after.rows) as rows")
        emit("records held\(site.map { " of \($0)" } ?? ""): \(before.records) before, \(after.records) after"
             + (before.digest.map { " (hash sum of every record as read back: \($0) before, \(after.digest ?? "-") after)" } ?? ""))
        if after.records < before.records {
            note("fewer records are held after compacting than before: \(before.records - after.records) missing "
                 + "(unless an archive took a month out meanwhile; pocare-control archive lists what it wrote)")
            throw ExitStatus.failure
        }
        if let digest = before.digest, digest != after.digest || before.records != after.records {
            note("the records read back differ from before: stop ingest for a proof, or look for what changed")
            throw ExitStatus.failure
        }
    }

    /// The records held (of `site`), as rows and in chunks, and with --prove the sum of a 64-bit
    /// hash of each as `stored_samples` gives it back (every column, in its text form).
    func held(on connection: PostgresConnection) throws -> (records: Int64, rows: Int64, chunked: Int64, chunks: Int64, digest: String?) {
        let counts = try connection.execute("""
            SELECT (SELECT count(*) FROM samples WHERE $1::text IS NULL OR site = $1) AS rows,
                   (SELECT coalesce(sum(n), 0) FROM sample_chunks WHERE $1::text IS NULL OR site = $1) AS chunked,
                   (SELECT count(*) FROM sample_chunks WHERE $1::text IS NULL OR site = $1) AS chunks
            """, [site])
        let rows = counts.int(0, "rows") ?? 0, chunked = counts.int(0, "chunked") ?? 0
        var digest: String?
        if prove {
            digest = try connection.execute("""
                SELECT coalesce(sum(hashtextextended(s::text, 0)::numeric), 0)::text AS digest
                FROM stored_samples s WHERE $1::text IS NULL OR s.site = $1
                """, [site]).string(0, "digest") ?? "0"
        }
        return (rows + chunked, rows, chunked, counts.int(0, "chunks") ?? 0, digest)
    }
}
