import POCareCore

/// `pocare-control batches` and `batch`: what each batch ran, when, under which spec, as the
/// sites' records show it.
public struct BatchSummary: Sendable, Codable, Equatable {
    public var site: String
    public var batch: String
    public var device: String
    public var specs: [String]
    public var phases: [String]
    public var first: String
    public var last: String
    public var samples: Int64
    public var events: Int64
    /// Whether every spec the batch ran is in the register and was not retired before it ran.
    public var conforming: Bool
    /// What the batch was for, from its site's qualification when it started (`BatchPurpose`):
    /// production, verification, comparability, suspended site; nil for a site not in the Master File.
    public var purpose: String?

    public static func list(_ connection: PostgresConnection, site: String? = nil, spec: String? = nil, since: Double? = nil) throws
        -> [BatchSummary]
    {
        let result = try connection.execute("""
            SELECT r.site, r.batch, r.device,
                   array_to_string(array_agg(DISTINCT r.spec) FILTER (WHERE r.spec <> ''), ',') AS specs,
                   array_to_string(array_agg(DISTINCT r.phase) FILTER (WHERE r.phase <> ''), ',') AS phases,
                   \(SQLTime.iso("min(r.first_time)")) AS first_utc, \(SQLTime.iso("max(r.last_time)")) AS last_utc,
                   sum(r.samples) AS sample_count,
                   (SELECT count(*) FROM events e WHERE e.site = r.site AND e.batch = r.batch) AS event_count,
                   bool_and(r.spec <> '' AND EXISTS (SELECT 1 FROM released_specs rs WHERE rs.fingerprint = r.spec
                                                     AND (rs.retired IS NULL OR rs.retired >= r.last_time))) AS conforming,
                   \(BatchPurpose.sql(site: "r.site", time: "min(r.first_time)")) AS purpose
            FROM batch_runs r
            WHERE ($1::text IS NULL OR r.site = $1)
            GROUP BY r.site, r.batch, r.device
            HAVING ($2::text IS NULL OR bool_or(r.spec LIKE $2 || '%'))
               AND ($3::float8 IS NULL OR max(r.last_time) >= to_timestamp($3::float8))
            ORDER BY min(r.first_time), r.site, r.batch
            """, [site, spec.map { $0.hasPrefix("sha256:") ? $0 : "sha256:" + $0 }, since.map { String($0) }])
        // site, batch, device and the times are NOT NULL in batch_runs; min and max of a group are not NULL either.
        return try result.map { row in
            BatchSummary(
                site: try row.requiredString("site"), batch: try row.requiredString("batch"), device: try row.requiredString("device"),
                specs: (row.string("specs") ?? "").split(separator: ",").map(String.init),
                phases: (row.string("phases") ?? "").split(separator: ",").map(String.init),
                first: try row.requiredString("first_utc"), last: try row.requiredString("last_utc"), samples: row.int("sample_count") ?? 0,
                events: row.int("event_count") ?? 0, conforming: row.bool("conforming") ?? false, purpose: row.string("purpose"))
        }
    }
}

/// One batch in detail: its phases in order, its events, and what integrity says of its streams.
public struct BatchRecord: Sendable, Codable, Equatable {
    public struct Phase: Sendable, Codable, Equatable {
        public var device: String
        public var phase: String
        public var spec: String?
        public var first: String
        public var last: String
        public var samples: Int64
    }

    public struct Event: Sendable, Codable, Equatable {
        public var time: String
        public var stream: String
        public var seq: Int64
        public var kind: String
        public var phase: String?
        public var detail: String
    }

    public var site: String
    public var batch: String
    public var phases: [Phase]
    public var events: [Event]
    /// Events beyond the limit the record was loaded with.
    public var eventsLeftOut = 0
    public var nonconformances: [Nonconformance]
    /// Open findings on the streams of the batch's devices.
    public var openFindings: [IntegrityReport.Finding]
    /// The record each device's site published when its part of the batch ended, checked
    /// against the samples and events held here; empty while the batch runs.
    public var siteRecords: [SiteBatchRecordCheck] = []
    /// Per device, the statistics of the samples held here (`BatchStatistics`, the rule of the
    /// site's record), from the device's batch start to its end as its events say.
    public var statistics: [DeviceBatchStatistics] = []
    /// Records of the batch that arrived in differing copies; an open one blocks signing.
    public var disputes: [RecordDispute] = []
    /// What the batch was for (`BatchPurpose`): production, verification, comparability, suspended site.
    public var purpose: String?
    /// The state strips, when the reader asked for them (the page draws them; not part of the record's JSON).
    public var labels: [LabelSeriesReader.Series] = []

    enum CodingKeys: String, CodingKey {
        case site, batch, phases, events, eventsLeftOut, nonconformances, openFindings, siteRecords, statistics, disputes, purpose
    }

    /// - Parameters:
    ///   - specs: the spec of a fingerprint, for the limits the site's record is checked with (`SpecLookup.ran`).
    ///   - eventLimit: events listed at most (a page's bound; `eventsLeftOut` counts the rest).
    ///   - limits: how much of the samples the statistics read (a page's bound).
    ///   - labels: the state strips' limits (nil: no strips).
    ///   - fresh: every sample read now, not what was kept for the record's version.
    /// What is read from every sample comes from `PreparedBatchReviews`: read once per version of the record.
    public static func load(
        _ connection: PostgresConnection, site: String, batch: String, specs: (String) throws -> IPCSpec?, eventLimit: Int? = nil,
        limits: BatchSeriesReader.Limits = .init(), labels: LabelSeriesReader.Limits? = nil, fresh: Bool = false,
        checkpoint: () throws -> Void = {}
    ) throws -> BatchRecord? {
        let phases = try connection.execute("""
            SELECT device, phase, nullif(spec, '') AS spec, \(SQLTime.iso("first_time")) AS first_utc, \(SQLTime.iso("last_time")) AS last_utc,
                   samples
            FROM batch_runs WHERE site = $1 AND batch = $2 ORDER BY first_time
            """, [site, batch])
        guard phases.rowCount > 0 else { return nil }
        let events = try connection.execute("""
            SELECT \(SQLTime.iso("time")) AS time_utc, stream, seq, kind, phase, coalesce(record->'event', '{}')::text AS detail,
                   count(*) OVER () AS total
            FROM events WHERE site = $1 AND batch = $2 ORDER BY time, stream, seq LIMIT $3::bigint
            """, [site, batch, eventLimit.map { String($0) }])
        try checkpoint()
        // Every column read as required is NOT NULL in batch_runs and events (detail is coalesced).
        let phaseList = try phases.map { row in
            Phase(device: try row.requiredString("device"), phase: try row.requiredString("phase"), spec: row.string("spec"),
                  first: try row.requiredString("first_utc"), last: try row.requiredString("last_utc"), samples: try row.requiredInt("samples"))
        }
        let parts = try PreparedBatchReviews.parts(
            site: site, batch: batch, specs: specs, reader: .init(series: limits, labels: labels), fresh: fresh, checkpoint: checkpoint,
            on: connection)
        let devices = Set(phaseList.map(\.device))
        let findings = try IntegrityReport.load(connection, site: site).findings
            .filter { f in devices.contains { f.stream.hasPrefix($0 + "/") } }
        return BatchRecord(
            site: site, batch: batch,
            phases: phaseList,
            events: try events.map { row in
                Event(time: try row.requiredString("time_utc"), stream: try row.requiredString("stream"), seq: try row.requiredInt("seq"),
                      kind: try row.requiredString("kind"), phase: row.string("phase"), detail: try row.requiredString("detail"))
            },
            // The window count repeats on every row; with no row (nil) nothing is left out.
            eventsLeftOut: max(0, Int(events.int(0, "total") ?? 0) - events.rowCount),
            nonconformances: try Nonconformance.load(connection).filter { $0.site == site && $0.batch == batch },
            openFindings: findings,
            siteRecords: parts.siteRecords,
            statistics: parts.statistics,
            disputes: try RecordDispute.list(connection, all: true, site: site, batch: batch),
            purpose: try connection.execute(
                "SELECT \(BatchPurpose.sql(site: "$1", time: "(SELECT min(first_time) FROM batch_runs WHERE site = $1 AND batch = $2)")) AS purpose",
                [site, batch]).string(0, "purpose"),
            labels: parts.labels ?? [])
    }
}
