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
            SELECT id, kind, site, epoch, stream, seq_from, seq_to, detail, \(SQLTime.iso("found")), \(SQLTime.iso("last_seen")),
                   occurrences, \(SQLTime.iso("resolved")), extract(epoch FROM now() - found)
            FROM integrity_findings
            WHERE ($1::text IS NULL OR site = $1) AND ($2 OR resolved IS NULL)
              AND ($2 OR kind <> 'gap' OR found <= now() - make_interval(secs => $3::float8))
            ORDER BY found, id
            """, [site, includeResolved ? "true" : "false", String(gapGraceSeconds)])
        let streams = try connection.execute("""
            SELECT site, epoch, stream, contiguous, highest,
                   (SELECT coalesce(sum(seq_to - seq_from + 1), 0) FROM gaps g
                    WHERE g.site = s.site AND g.epoch = s.epoch AND g.stream = s.stream),
                   records, duplicates, \(SQLTime.iso("last_record_time"))
            FROM streams s WHERE ($1::text IS NULL OR site = $1) ORDER BY site, epoch, stream
            """, [site])
        let replays = try connection.execute("""
            SELECT site, stream, seq_from, seq_to, cause, attempt, \(SQLTime.iso("requested")), state, sending_from, sending_to,
                   pruned_through, reason
            FROM replay_requests WHERE ($1::text IS NULL OR site = $1) ORDER BY requested DESC, id LIMIT \(replayLimit)
            """, [site])
        return IntegrityReport(
            findings: (0..<findings.rowCount).map { r in
                Finding(id: findings.int(r, 0)!, kind: findings.string(r, 1)!, site: findings.string(r, 2)!,
                        epoch: findings.string(r, 3)!, stream: findings.string(r, 4)!, seqFrom: findings.int(r, 5),
                        seqTo: findings.int(r, 6), detail: findings.string(r, 7)!, found: findings.string(r, 8)!,
                        lastSeen: findings.string(r, 9)!, occurrences: findings.int(r, 10)!, resolved: findings.string(r, 11),
                        ageSeconds: findings.double(r, 12) ?? 0)
            },
            streams: (0..<streams.rowCount).map { r in
                Stream(site: streams.string(r, 0)!, epoch: streams.string(r, 1)!, stream: streams.string(r, 2)!,
                       contiguous: streams.int(r, 3)!, highest: streams.int(r, 4)!, missing: streams.int(r, 5)!,
                       records: streams.int(r, 6)!, duplicates: streams.int(r, 7)!, lastRecordTime: streams.string(r, 8))
            },
            replays: (0..<replays.rowCount).map { r in
                ReplayRequest(site: replays.string(r, 0) ?? "", stream: replays.string(r, 1) ?? "", seqFrom: replays.int(r, 2) ?? 0,
                              seqTo: replays.int(r, 3) ?? 0, cause: replays.string(r, 4) ?? "", attempt: replays.int(r, 5) ?? 0,
                              requested: replays.string(r, 6) ?? "", state: replays.string(r, 7) ?? "", sendingFrom: replays.int(r, 8),
                              sendingTo: replays.int(r, 9), prunedThrough: replays.int(r, 10), reason: replays.string(r, 11))
            })
    }
}
