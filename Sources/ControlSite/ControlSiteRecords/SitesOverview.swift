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
            SELECT s.site, coalesce(s.state, 'unknown'), s.version, nullif(s.epoch, ''), \(SQLTime.iso("t.last_record_time")),
                   \(SQLTime.iso("t.last_received")), extract(epoch FROM now() - t.last_record_time),
                   (SELECT count(*) FROM integrity_findings f WHERE f.site = s.site AND f.resolved IS NULL)
            FROM sites s
            LEFT JOIN (SELECT site, max(last_record_time) AS last_record_time, max(last_received) AS last_received
                       FROM streams GROUP BY site) t ON t.site = s.site
            ORDER BY s.site
            """)
        let devices = try connection.execute("""
            SELECT coalesce(d.site, m.site), coalesce(d.device, m.device), d.profile, d.batch, d.phase, d.spec,
                   m.fingerprint, m.verified::text
            FROM site_devices d FULL JOIN (SELECT * FROM device_metadata WHERE metadata IS NOT NULL) m
                 ON m.site = d.site AND m.device = d.device
            ORDER BY 1, 2
            """)
        var bySite: [String: [Device]] = [:]
        for r in 0..<devices.rowCount {
            bySite[devices.string(r, 0)!, default: []].append(Device(
                id: devices.string(r, 1)!, profile: devices.string(r, 2), batch: devices.string(r, 3), phase: devices.string(r, 4),
                spec: devices.string(r, 5), metadata: devices.string(r, 6), metadataVerified: devices.string(r, 7).map { $0 == "true" }))
        }
        // Each site's newest clock_sync and clock_step event (events of site/events).
        let clocks = try connection.execute("""
            SELECT DISTINCT ON (site, kind) site, kind, \(SQLTime.iso("time")),
                   (record->'event'->>'synchronised'), (record->'event'->>'estimated_error_us'), (record->'event'->>'step_s')
            FROM events WHERE kind IN ('clock_sync', 'clock_step') AND stream = 'site/events'
            ORDER BY site, kind, time DESC, seq DESC
            """)
        var clockBySite: [String: Clock] = [:]
        for r in 0..<clocks.rowCount {
            guard let site = clocks.string(r, 0) else { continue }
            var clock = clockBySite[site] ?? Clock()
            if clocks.string(r, 1) == "clock_sync" {
                clock.synchronised = clocks.string(r, 3).map { $0 == "true" }
                clock.estimatedErrorUs = clocks.string(r, 4).flatMap { Int64($0) }
                clock.since = clocks.string(r, 2)
            } else {
                clock.lastStep = clocks.string(r, 2)
                clock.lastStepS = clocks.string(r, 5).flatMap(Double.init)
            }
            clockBySite[site] = clock
        }
        return (0..<sites.rowCount).map { r in
            let site = sites.string(r, 0)!
            return SiteOverview(
                site: site, state: sites.string(r, 1)!, version: sites.string(r, 2), epoch: sites.string(r, 3),
                lastRecordTime: sites.string(r, 4), lastReceived: sites.string(r, 5), backlogAgeSeconds: sites.double(r, 6),
                devices: bySite[site] ?? [], openFindings: Int(sites.int(r, 7) ?? 0), clock: clockBySite[site])
        }
    }
}
