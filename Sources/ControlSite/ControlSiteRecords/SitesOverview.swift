/// `pocare-control sites`: each site at a glance, from its retained status and what arrived.
public struct SiteOverview: Sendable, Codable, Equatable {
    public struct Device: Sendable, Codable, Equatable {
        public var id: String
        public var profile: String?
        public var batch: String?
        public var phase: String?
        public var spec: String?
        /// The fingerprint of the device metadata last published, and whether its bytes hash to it.
        public var metadata: String?
        public var metadataVerified: Bool?
    }

    public var site: String
    /// online, offline (clean shutdown or last will), or unknown (records but no status yet).
    public var state: String
    public var version: String?
    public var epoch: String?
    public var lastRecordTime: String?
    public var lastReceived: String?
    /// How far the newest stored record lags behind now, in seconds: large while a backlog drains.
    public var backlogAgeSeconds: Double?
    public var devices: [Device]
    public var openFindings: Int
    /// The site's clock as its own evidence says (its `clock_sync` and `clock_step` events on
    /// `site/events`): nil when no evidence has arrived.
    public var clock: Clock?

    public struct Clock: Sendable, Codable, Equatable {
        /// What the kernel last said of the site's clock, and when the site recorded it.
        public var synchronised: Bool?
        public var estimatedErrorUs: Int64?
        public var since: String?
        /// The newest step of the wall clock, if any, and how far it moved.
        public var lastStep: String?
        public var lastStepS: Double?

        /// One word and its detail for a table.
        public var summary: String {
            var text = switch synchronised {
            case true?: "synchronised" + (estimatedErrorUs.map { " ±\($0)us" } ?? "")
            case false?: "NOT synchronised"
            case nil: "unknown"
            }
            if let lastStep, let lastStepS { text += ", stepped \(lastStepS)s at \(lastStep)" }
            return text
        }
    }

    /// A site the POC Master File registers that has never published anything.
    public static func registeredOnly(_ site: String) -> SiteOverview {
        SiteOverview(site: site, state: "never seen", devices: [], openFindings: 0)
    }

    public static func load(_ connection: PostgresConnection) throws -> [SiteOverview] {
        let sites = try connection.execute("""
            SELECT s.site, coalesce(s.state, 'unknown') AS state, s.version, nullif(s.epoch, '') AS epoch,
                   \(SQLTime.iso("t.last_record_time")) AS last_record_time_utc, \(SQLTime.iso("t.last_received")) AS last_received_utc,
                   extract(epoch FROM now() - t.last_record_time) AS backlog_s,
                   (SELECT count(*) FROM integrity_findings f WHERE f.site = s.site AND f.resolved IS NULL) AS open_findings
            FROM sites s
            LEFT JOIN (SELECT site, max(last_record_time) AS last_record_time, max(last_received) AS last_received
                       FROM streams GROUP BY site) t ON t.site = s.site
            ORDER BY s.site
            """)
        let devices = try connection.execute("""
            SELECT coalesce(d.site, m.site) AS site, coalesce(d.device, m.device) AS device, d.profile, d.batch, d.phase, d.spec,
                   m.fingerprint, m.verified::text AS verified
            FROM site_devices d FULL JOIN (SELECT * FROM device_metadata WHERE metadata IS NOT NULL) m
                 ON m.site = d.site AND m.device = d.device
            ORDER BY 1, 2
            """)
        var bySite: [String: [Device]] = [:]
        for row in devices.map({ $0 }) {
            // site and device are key columns of both joined tables: the coalesce of the two is never NULL.
            guard let site = row.string("site"), let device = row.string("device") else { continue }
            bySite[site, default: []].append(Device(
                id: device, profile: row.string("profile"), batch: row.string("batch"), phase: row.string("phase"),
                spec: row.string("spec"), metadata: row.string("fingerprint"), metadataVerified: row.string("verified").map { $0 == "true" }))
        }
        // Each site's newest clock_sync and clock_step event (events of site/events).
        let clocks = try connection.execute("""
            SELECT DISTINCT ON (site, kind) site, kind, \(SQLTime.iso("time")) AS at,
                   (record->'event'->>'synchronised') AS synchronised, (record->'event'->>'estimated_error_us') AS estimated_error_us,
                   (record->'event'->>'step_s') AS step_s
            FROM events WHERE kind IN ('clock_sync', 'clock_step') AND stream = 'site/events'
            ORDER BY site, kind, time DESC, seq DESC
            """)
        var clockBySite: [String: Clock] = [:]
        for row in clocks.map({ $0 }) {
            guard let site = row.string("site") else { continue }
            var clock = clockBySite[site] ?? Clock()
            if row.string("kind") == "clock_sync" {
                clock.synchronised = row.string("synchronised").map { $0 == "true" }
                clock.estimatedErrorUs = row.string("estimated_error_us").flatMap { Int64($0) }
                clock.since = row.string("at")
            } else {
                clock.lastStep = row.string("at")
                clock.lastStepS = row.string("step_s").flatMap(Double.init)
            }
            clockBySite[site] = clock
        }
        return sites.map { row -> SiteOverview? in
            // site is the key of sites and state is coalesced: neither is NULL.
            guard let site = row.string("site"), let state = row.string("state") else { return nil }
            return SiteOverview(
                site: site, state: state, version: row.string("version"), epoch: row.string("epoch"),
                lastRecordTime: row.string("last_record_time_utc"), lastReceived: row.string("last_received_utc"),
                backlogAgeSeconds: row.double("backlog_s"), devices: bySite[site] ?? [],
                openFindings: Int(row.int("open_findings") ?? 0), clock: clockBySite[site])
        }.compactMap { $0 }
    }
}
