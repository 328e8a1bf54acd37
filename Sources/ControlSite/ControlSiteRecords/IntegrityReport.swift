/// `pocare-control integrity`: what ingest found wrong, and where each stream stands.
public struct IntegrityReport: Sendable, Codable, Equatable {
    public struct Finding: Sendable, Codable, Equatable {
        public var id: Int64
        public var kind: String
        public var site: String
        public var epoch: String
        public var stream: String
        public var seqFrom: Int64?
        public var seqTo: Int64?
        public var detail: String
        public var found: String
        public var lastSeen: String
        public var occurrences: Int64
        public var resolved: String?
        public var ageSeconds: Double
    }

    public struct Stream: Sendable, Codable, Equatable {
        public var site: String
        public var epoch: String
        public var stream: String
        public var contiguous: Int64
        public var highest: Int64
        public var missing: Int64
        public var records: Int64
        public var duplicates: Int64
        public var lastRecordTime: String?
    }

    /// A request to a site to replay a range, and the site's latest answer.
    public struct ReplayRequest: Sendable, Codable, Equatable {
        public var site: String
        public var stream: String
        public var seqFrom: Int64
        public var seqTo: Int64
        public var cause: String
        public var attempt: Int64
        public var requested: String
        public var state: String
        public var sendingFrom: Int64?
        public var sendingTo: Int64?
        public var prunedThrough: Int64?
        public var reason: String?
    }

    public var findings: [Finding]
    public var streams: [Stream]
    /// The newest replay requests (at most `replayLimit`).
    public var replays: [ReplayRequest]
    public static let replayLimit = 50

    /// Open findings (all when `includeResolved`); a gap counts only once it has stayed open for
    /// `gapGraceSeconds`, since records of one stream may reach several instances out of order.
    public static func load(_ connection: PostgresConnection, site: String? = nil, includeResolved: Bool = false,
                            gapGraceSeconds: Double = 0) throws -> IntegrityReport {
        let findings = try connection.execute("""
            SELECT id, kind, site, epoch, stream, seq_from, seq_to, detail, \(SQLTime.iso("found")) AS found_utc,
                   \(SQLTime.iso("last_seen")) AS last_seen_utc, occurrences, \(SQLTime.iso("resolved")) AS resolved_utc,
                   extract(epoch FROM now() - found) AS age_s
            FROM integrity_findings
            WHERE ($1::text IS NULL OR site = $1) AND ($2 OR resolved IS NULL)
              AND ($2 OR kind <> 'gap' OR found <= now() - make_interval(secs => $3::float8))
            ORDER BY found, id
            """, [site, includeResolved ? "true" : "false", String(gapGraceSeconds)])
        let streams = try connection.execute("""
            SELECT site, epoch, stream, contiguous, highest,
                   (SELECT coalesce(sum(seq_to - seq_from + 1), 0) FROM gaps g
                    WHERE g.site = s.site AND g.epoch = s.epoch AND g.stream = s.stream) AS missing,
                   records, duplicates, \(SQLTime.iso("last_record_time")) AS last_record_time_utc
            FROM streams s WHERE ($1::text IS NULL OR site = $1) ORDER BY site, epoch, stream
            """, [site])
        let replays = try connection.execute("""
            SELECT site, stream, seq_from, seq_to, cause, attempt, \(SQLTime.iso("requested")) AS requested_utc, state, sending_from, sending_to,
                   pruned_through, reason
            FROM replay_requests WHERE ($1::text IS NULL OR site = $1) ORDER BY requested DESC, id LIMIT \(replayLimit)
            """, [site])
        return IntegrityReport(
            // Every column read as required is NOT NULL in the schema (missing is a coalesced sum).
            findings: try findings.map { row in
                Finding(id: try row.requiredInt("id"), kind: try row.requiredString("kind"), site: try row.requiredString("site"),
                        epoch: try row.requiredString("epoch"), stream: try row.requiredString("stream"), seqFrom: row.int("seq_from"),
                        seqTo: row.int("seq_to"), detail: try row.requiredString("detail"), found: try row.requiredString("found_utc"),
                        lastSeen: try row.requiredString("last_seen_utc"), occurrences: try row.requiredInt("occurrences"),
                        resolved: row.string("resolved_utc"), ageSeconds: row.double("age_s") ?? 0)
            },
            streams: try streams.map { row in
                Stream(site: try row.requiredString("site"), epoch: try row.requiredString("epoch"), stream: try row.requiredString("stream"),
                       contiguous: try row.requiredInt("contiguous"), highest: try row.requiredInt("highest"),
                       missing: try row.requiredInt("missing"), records: try row.requiredInt("records"),
                       duplicates: try row.requiredInt("duplicates"), lastRecordTime: row.string("last_record_time_utc"))
            },
            replays: replays.map { row in
                ReplayRequest(site: row.string("site") ?? "", stream: row.string("stream") ?? "", seqFrom: row.int("seq_from") ?? 0,
                              seqTo: row.int("seq_to") ?? 0, cause: row.string("cause") ?? "", attempt: row.int("attempt") ?? 0,
                              requested: row.string("requested_utc") ?? "", state: row.string("state") ?? "",
                              sendingFrom: row.int("sending_from"), sendingTo: row.int("sending_to"),
                              prunedThrough: row.int("pruned_through"), reason: row.string("reason"))
            })
    }
}
