import Foundation
import Logging
import POCareCore
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// `pocare-control run`'s Prometheus metrics (`metrics:` in control.yaml), a service of its own:
/// ingest's counters from memory, and per site from the database at each scrape (open gaps,
/// open findings, replay requests sent and waiting, the age of the newest record, signatures), on the
/// metrics thread with a connection of its own whose statements may take 2 s at most.
public final class ControlSiteMetrics: Service, Sendable {
    private let endpoint: MetricsEndpoint

    public init(config: MetricsConfig, database: String, ingest: IngestService, compaction: SampleCompactionService? = nil, logger: Logger) throws {
        let connection = HeldConnection()
        endpoint = try MetricsEndpoint(host: config.host, port: config.port, logger: logger) {
            ingest.metricFamilies() + (compaction?.metricFamilies() ?? [])
                + Self.databaseFamilies(database: database, connection: connection, share: ingest.share, logger: logger)
        }
    }

    public var port: Int { endpoint.port }

    public func run() async {
        endpoint.start()
        // Throws only when the task is cancelled, which asks for the same stop.
        try? await gracefulShutdown()
        await endpoint.stop(within: .seconds(3))
    }

    /// The metrics thread's database connection, kept from one scrape to the next.
    final class HeldConnection: Sendable {
        let connection = Mutex<PostgresConnection?>(nil)
    }

    /// Per site only the sites of `share`: of several instances each reports its own, so no site is counted twice.
    static func databaseFamilies(database: String, connection: HeldConnection, share: IngestShare = .everySite, logger: Logger) -> [MetricFamily] {
        connection.connection.withLock { held -> [MetricFamily] in
            do {
                let db = try held ?? PostgresConnection(database)
                held = db
                try db.execute("SET statement_timeout = '2s'")
                return try perSite(db, share: share)
            } catch {
                held = nil
                logger.warning("metrics: the database did not answer", metadata: ["error": "\(error)"])
                return [MetricFamily("pocare_control_database_up", .gauge, help: "1 when the metrics' database query answered.", samples: [.init(0)])]
            }
        }
    }

    static func perSite(_ db: PostgresConnection, share: IngestShare = .everySite) throws -> [MetricFamily] {
        let sites = try db.execute("""
            SELECT s.site,
                   (SELECT count(*) FROM gaps g WHERE g.site = s.site) AS open_gaps,
                   (SELECT count(*) FROM integrity_findings f WHERE f.site = s.site AND f.resolved IS NULL) AS open_findings,
                   (SELECT count(*) FROM replay_requests r WHERE r.site = s.site AND r.state IN ('sent', 'accepted')) AS replays_waiting,
                   (SELECT count(*) FROM replay_requests r WHERE r.site = s.site) AS replays_sent,
                   extract(epoch FROM now() - (SELECT max(t.last_record_time) FROM streams t WHERE t.site = s.site)) AS record_age,
                   CASE WHEN s.state = 'online' THEN 1 ELSE 0 END AS online
            FROM sites s ORDER BY s.site
            """).map { row in
            (site: row.string("site") ?? "", gaps: Double(row.int("open_gaps") ?? 0), findings: Double(row.int("open_findings") ?? 0),
             replays: Double(row.int("replays_waiting") ?? 0), replaysSent: Double(row.int("replays_sent") ?? 0),
             age: row.double("record_age"), online: Double(row.int("online") ?? 0))
        }.filter { share.takes($0.site) }
        let signatures = try db.execute("SELECT meaning, count(*) AS n FROM batch_signatures GROUP BY meaning ORDER BY meaning").map {
            MetricFamily.Sample(Double($0.int("n") ?? 0), labels: [("meaning", $0.string("meaning") ?? "")])
        }
        return [
            MetricFamily("pocare_control_database_up", .gauge, help: "1 when the metrics' database query answered.", samples: [.init(1)]),
            MetricFamily("pocare_control_site_online", .gauge, help: "1 while the site's retained status says online.", by: "site",
                         sites.map { ($0.site, $0.online) }),
            MetricFamily("pocare_control_site_open_gaps", .gauge, help: "Ranges of records missing at the Control Site.", by: "site",
                         sites.map { ($0.site, $0.gaps) }),
            MetricFamily("pocare_control_site_open_findings", .gauge, help: "Integrity findings not resolved.", by: "site",
                         sites.map { ($0.site, $0.findings) }),
            MetricFamily("pocare_control_site_replay_requests_waiting", .gauge, help: "Replay requests sent to the site and not yet done.",
                         by: "site", sites.map { ($0.site, $0.replays) }),
            MetricFamily("pocare_control_site_replay_requests_total", .counter, help: "Replay requests sent to the site (every request is kept).",
                         by: "site", sites.map { ($0.site, $0.replaysSent) }),
            MetricFamily("pocare_control_site_newest_record_age_seconds", .gauge,
                         help: "How old the newest record held from the site is: its lag, or its silence.", by: "site",
                         sites.compactMap { s in s.age.map { (s.site, $0) } }),
            // Signatures are the Control Site's, not a site's: every instance reports the same count.
            MetricFamily("pocare_control_signatures_total", .counter,
                         help: "Electronic signatures given at the Control Site, by meaning (the same from every instance).", samples: signatures),
        ]
    }
}
