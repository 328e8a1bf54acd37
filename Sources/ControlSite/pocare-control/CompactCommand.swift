import ArgumentParser
import ControlSiteRecords
import Foundation
import Logging

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep settled samples as compact chunks now (run does it every compact_every).",
        discussion: """
            A stream's samples older than --older-than, with no gap below them and in no open finding or dispute, are \
            kept as one chunk per minute; each chunk is read back and compared with the rows it replaces before they go. \
            Records read back byte for byte as before: pages, verify, signatures and archives see no difference. \
            A database migrated from a release before chunks is compacted by this command or by run.
            Example:
              pocare-control compact --older-than 3600
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Only this site's streams.") var site: String?
    @Option(help: "Keep as chunks the samples older than this many seconds.") var olderThan: Double = 3600

    func run() throws {
        guard olderThan >= 0, olderThan.isFinite else {
            note("--older-than: expected a number of seconds, at least 0")
            throw ExitStatus.usage
        }
        let connection = try db.connect()
        let logger = Logger(label: "pocare-control.compact")
        let pass = try SampleCompaction(settledAfter: olderThan).run(site: site, on: connection, logger: logger)
        let sizes = try connection.execute("""
            SELECT (SELECT count(*) FROM samples) AS rows,
                   (SELECT coalesce(sum(n), 0) FROM sample_chunks) AS chunked,
                   (SELECT count(*) FROM sample_chunks) AS chunks
            """)
        emit("\(pass.records) samples of \(pass.streams) streams kept as chunks now; held: \(sizes.int(0, "chunked") ?? 0) samples in "
             + "\(sizes.int(0, "chunks") ?? 0) chunks, \(sizes.int(0, "rows") ?? 0) as rows")
    }
}
