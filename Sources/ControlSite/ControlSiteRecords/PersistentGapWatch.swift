import Foundation
import Logging
import POCareCore
import ServiceLifecycle
import Synchronization

/// Reports gaps that stay open: a gap can open for a moment when records of one stream reach
/// instances out of order, but one still open after `reportAfter` means records are missing and
/// the site's backlog has not brought them. Its own thread and connection; logs each gap once.
public final class PersistentGapWatch: Service, Sendable {
    private let database: String
    private let reportAfter: Duration
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    private let thread = DedicatedThread(name: "ingest-gap-watch")

    /// Only the gaps of `share`'s sites: another instance reports its own.
    private let share: IngestShare

    public init(database: String, reportAfter: Duration, logger: Logger, share: IngestShare = .everySite) {
        self.share = share
        self.database = database
        self.reportAfter = reportAfter
        self.logger = logger
    }

    /// Watches on its own thread until the service group shuts down.
    public func run() async {
        thread.start { [self] in watch() }
        // Throws only when the task is cancelled, which asks for the same stop.
        try? await gracefulShutdown()
        stopped.store(true, ordering: .relaxed)
        _ = await thread.joined(within: .seconds(1))
    }

    private func watch() {
        var reported = Set<String>()
        var connection: PostgresConnection?
        let seconds = Double(reportAfter.components.seconds) + Double(reportAfter.components.attoseconds) / 1e18
        while !stopped.load(ordering: .relaxed) {
            do {
                let db = try connection ?? PostgresConnection(database)
                connection = db
                let gaps = try db.execute("""
                    SELECT site, epoch, stream, seq_from, seq_to, extract(epoch FROM now() - opened) AS open_s FROM gaps
                    WHERE opened <= now() - make_interval(secs => $1::float8) ORDER BY opened
                    """, [String(seconds)])
                var open = Set<String>()
                for row in gaps.map({ $0 }) {
                    // The key columns of gaps are NOT NULL.
                    guard let site = row.string("site"), share.takes(site), let epoch = row.string("epoch"), let stream = row.string("stream"),
                          let from = row.string("seq_from"), let to = row.string("seq_to")
                    else { continue }
                    let key = [site, epoch, stream, from, to].joined(separator: "/")
                    open.insert(key)
                    guard reported.insert(key).inserted else { continue }
                    logger.error("records missing for longer than the site's backlog should take", metadata: [
                        "site": "\(site)", "stream": "\(stream)",
                        "missing": "\(from)...\(to)", "open_seconds": "\(Int(row.double("open_s") ?? 0))",
                    ])
                }
                reported.formIntersection(open)
            } catch {
                connection = nil
            }
            for _ in 0..<50 where !stopped.load(ordering: .relaxed) { usleep(200_000) }
        }
    }
}
