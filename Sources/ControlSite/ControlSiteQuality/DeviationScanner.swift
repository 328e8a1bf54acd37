import ControlSiteRecords
import Foundation
import Logging
import POCareCore
import ServiceLifecycle
import Synchronization

/// Opens deviations on its own, from the evidence the Control Site holds: an excursion
/// during a batch, an alarm still unacknowledged at the batch's end, unmonitored time above
/// the limit, a chain break or gap at the integrity check, unregistered equipment, a spec
/// not released at batch start, a batch started at a suspended site. Each piece of evidence
/// belongs to one deviation (keyed), and evidence of one kind for one batch (or one finding,
/// one device) gathers in one open deviation, so nothing opens twice.
public enum DeviationScanner {
    /// The system's name in the audit trail for what it opens by itself.
    public static let systemUser = "pocare-control"

    struct Candidate {
        var key: String
        var group: String
        var source: String
        var site: String
        var batch: String?
        var kind: String
        var time: String?
        var detail: String
        var link: String?
        var title: String
        var description: String
    }

    /// Looks once; returns the deviations it opened. One instance scans at a time: while
    /// another (a second shard of `pocare-control run`) is scanning, this one looks no further,
    /// since that scan sees the same evidence and the next interval catches what came since.
    @discardableResult
    public static func scan(settings: QualitySettings, on connection: PostgresConnection) throws -> [Int64] {
        try connection.transaction {
            guard try connection.execute("SELECT pg_try_advisory_xact_lock(7146354) AS locked").bool(0, "locked") == true else { return [] }
            var candidates = try excursions(connection) + batchRecords(connection, settings: settings)
            candidates += try integrity(connection, settings: settings) + nonconformances(connection) + untrainedOperators(connection)
            var opened: [Int64] = []
            var touched: Set<Int64> = []
            for c in candidates {
                let existing = try connection.execute("SELECT id FROM deviations WHERE group_key = $1 AND state <> 'closed'", [c.group])
                let id: Int64
                if let found = existing.int(0, "id") {
                    id = found
                } else {
                    let row = try connection.execute("""
                        INSERT INTO deviations (site, source, group_key, title, description, opened_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
                        """, [c.site, c.source, c.group, String(c.title.prefix(200)), String(c.description.prefix(4000)), systemUser])
                    id = row.int(0, "id") ?? 0
                    opened.append(id)
                    try ControlAuditTrail.append(ControlAuditAction(
                        user: systemUser, action: "deviation.open", target: "DEV-\(id)", reason: "opened automatically: \(c.source.replacingOccurrences(of: "_", with: " "))",
                        newValue: String(c.title.prefix(200))), to: connection)
                }
                try connection.execute("""
                    INSERT INTO deviation_evidence (evidence_key, deviation_id, kind, time, detail, link) VALUES ($1, $2, $3, $4::timestamptz, $5, $6)
                    """, [c.key, String(id), c.kind, c.time, String(c.detail.prefix(2000)), c.link])
                let batches = try linkedBatches(c, on: connection)
                for batch in batches {
                    try connection.execute("""
                        INSERT INTO deviation_batches (deviation_id, site, batch) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                        """, [String(id), c.site, batch])
                }
                if !opened.contains(id) && !touched.contains(id) {
                    // New evidence is a new version: a signature prepared on the old one is refused.
                    try connection.execute("UPDATE deviations SET description = description WHERE id = $1", [String(id)])
                    try ControlAuditTrail.append(ControlAuditAction(
                        user: systemUser, action: "deviation.evidence", target: "DEV-\(id)", newValue: String(c.detail.prefix(400))), to: connection)
                }
                touched.insert(id)
            }
            return opened
        }
    }

    static func linkedBatches(_ c: Candidate, on connection: PostgresConnection) throws -> [String] {
        if let batch = c.batch { return [batch] }
        guard c.source == "integrity", let id = c.key.split(separator: "|").last else { return [] }
        // The batches whose records lie in the finding's range of the stream.
        let r = try connection.execute("""
            SELECT DISTINCT b AS batch FROM (
                SELECT r.batch AS b FROM integrity_findings f JOIN batch_runs r ON r.site = f.site AND r.epoch = f.epoch AND r.stream = f.stream
                WHERE f.id = $1 AND (f.seq_from IS NULL OR (r.first_seq <= coalesce(f.seq_to, f.seq_from) AND r.last_seq >= f.seq_from))
                UNION
                SELECT e.batch FROM integrity_findings f JOIN events e ON e.site = f.site AND e.epoch = f.epoch AND e.stream = f.stream
                WHERE f.id = $1 AND e.batch IS NOT NULL AND f.seq_from IS NOT NULL AND e.seq BETWEEN f.seq_from - 1 AND coalesce(f.seq_to, f.seq_from) + 1
            ) x WHERE b IS NOT NULL
            """, [String(id)])
        return r.map { $0.string("batch") }.compactMap { $0 }
    }

    /// Each query of candidates returns the columns key, group_key, source, site, batch, kind,
    /// time, detail, link, title and description.
    static func candidates(_ r: PostgresResult) -> [Candidate] {
        r.map { row -> Candidate? in
            guard let key = row.string("key"), let group = row.string("group_key"), let source = row.string("source"),
                  let site = row.string("site")
            else { return nil }
            return Candidate(key: key, group: group, source: source, site: site, batch: row.string("batch"), kind: row.string("kind") ?? source,
                             time: row.string("time"), detail: row.string("detail") ?? "", link: row.string("link"),
                             title: row.string("title") ?? source, description: row.string("description") ?? "")
        }.compactMap { $0 }
    }

    static let batchLink = "'/batches/' || e.site || '/' || e.batch"

    /// Excursion records of a batch's event streams (the site's record of each, as it closed).
    static func excursions(_ connection: PostgresConnection) throws -> [Candidate] {
        candidates(try connection.execute("""
            SELECT k.key, 'excursion|' || e.site || '|' || e.batch || '|' || k.alarm AS group_key, 'excursion' AS source, e.site, e.batch,
                   'excursion' AS kind, e.time,
                   k.alarm || ': ' || coalesce(x->>'worst_level', '?') || ' ' || coalesce(x->>'side', '') || ', worst value '
                       || coalesce(left(x->>'worst_value', 40), '?') || ', ' || coalesce(left(x->>'duration_s', 40), '?') || ' s from '
                       || coalesce(left(x->>'start', 30), '?') || ' to ' || coalesce(left(x->>'end', 30), '?') AS detail,
                   \(batchLink) AS link,
                   'Excursion of ' || k.alarm || ' in batch ' || e.batch AS title,
                   'The value of ' || k.alarm || ' left its range during batch ' || e.batch || ' at ' || e.site || '.' AS description
            FROM events e
            CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(e.record->'event'->'excursion') = 'object'
                                            THEN e.record->'event'->'excursion' ELSE '{}'::jsonb END AS x) l
            CROSS JOIN LATERAL (SELECT left(coalesce(x->>'alarm', e.stream), 200) AS alarm) a
            CROSS JOIN LATERAL (SELECT 'excursion|' || e.site || '|' || coalesce(e.device, '') || '|' || e.batch || '|' || a.alarm || '|'
                                       || coalesce(left(x->>'start', 23), e.seq::text) AS key, a.alarm) k
            WHERE e.kind = 'excursion' AND e.batch IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM deviation_evidence d WHERE d.evidence_key = k.key)
            ORDER BY e.time, e.seq
            """))
    }

    /// Operator actions a site let through although its personnel register does not list the
    /// person or their training expired (the site's audit entry `personnel.exception`): one
    /// deviation per site and person while open.
    static func untrainedOperators(_ connection: PostgresConnection) throws -> [Candidate] {
        candidates(try connection.execute("""
            SELECT 'personnel|' || a.site || '|' || a.epoch || '|' || a.seq AS key,
                   'untrained_operator|' || a.site || '|' || coalesce(a.user_name, '') AS group_key,
                   'untrained_operator' AS source, a.site, NULL AS batch, 'audit entry' AS kind, a.time,
                   coalesce(a.user_name, '?') || ' ran ' || coalesce(a.target, '?') || ': ' || coalesce(left(a.record->>'reason', 1000), '') AS detail,
                   '/audit?site=' || a.site || '&action=personnel.' AS link,
                   'Operator action by ' || coalesce(a.user_name, '?') || ' at ' || a.site || ' outside the personnel register' AS title,
                   'The site let an action through (personnel.allow_unregistered) by someone its personnel register does not list, '
                       || 'or whose GxP training had expired.' AS description
            FROM audit_entries a
            WHERE a.action = 'personnel.exception'
              AND NOT EXISTS (SELECT 1 FROM deviation_evidence d WHERE d.evidence_key = 'personnel|' || a.site || '|' || a.epoch || '|' || a.seq)
            ORDER BY a.time, a.seq
            """))
    }

    /// From each device's batch record (the newest copy): alarms never acknowledged by the
    /// batch's end, and unmonitored intervals when the batch's unmonitored time exceeds the limit.
    static func batchRecords(_ connection: PostgresConnection, settings: QualitySettings) throws -> [Candidate] {
        let records = """
            WITH records AS (
                SELECT DISTINCT ON (site, device, batch) site, coalesce(device, '') AS device, batch, time, record->'event'->'record' AS r
                FROM events WHERE kind = 'batch_record' AND batch IS NOT NULL AND jsonb_typeof(record->'event'->'record') = 'object'
                ORDER BY site, device, batch, time DESC, seq DESC)
            """
        let alarms = try connection.execute("""
            \(records)
            SELECT k.key, 'unacknowledged|' || e.site || '|' || e.batch || '|' || e.device AS group_key, 'unacknowledged_alarm' AS source,
                   e.site, e.batch, 'unacknowledged alarm' AS kind, e.time,
                   k.alarm || ' ' || coalesce(left(a->>'kind', 40), 'raised') || ' at ' || coalesce(left(a->>'time', 30), '?')
                       || ' was not acknowledged by the end of the batch' AS detail,
                   \(batchLink) AS link,
                   'Alarm unacknowledged at the end of batch ' || e.batch AS title,
                   'An alarm of ' || e.device || ' raised during batch ' || e.batch || ' at ' || e.site
                       || ' was never acknowledged by the batch''s end.' AS description
            FROM records e
            CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.r->'alarms') = 'array' THEN e.r->'alarms' ELSE '[]' END) a
            CROSS JOIN LATERAL (SELECT left(coalesce(a->>'alarm', '?'), 200) AS alarm) al
            CROSS JOIN LATERAL (SELECT 'unacknowledged|' || e.site || '|' || e.device || '|' || e.batch || '|' || al.alarm || '|'
                                       || coalesce(left(a->>'time', 23), '') AS key, al.alarm) k
            WHERE jsonb_typeof(a) = 'object' AND (a->>'acknowledged_by') IS NULL
              AND NOT EXISTS (SELECT 1 FROM deviation_evidence d WHERE d.evidence_key = k.key)
            """)
        let unmonitored = try connection.execute("""
            \(records)
            SELECT k.key, 'unmonitored|' || e.site || '|' || e.batch || '|' || e.device AS group_key, 'unmonitored_time' AS source,
                   e.site, e.batch, 'unmonitored time' AS kind, e.time,
                   e.device || ': ' || coalesce(left(u->>'duration_s', 40), '?') || ' s unmonitored from ' || coalesce(left(u->>'from', 30), '?')
                       || ' to ' || coalesce(left(u->>'to', 30), '?') || ' (' || coalesce(left(u->>'cause', 100), 'cause not stated') || ')' AS detail,
                   \(batchLink) AS link,
                   'Unmonitored time in batch ' || e.batch AS title,
                   e.device || ' was not monitored for ' || (e.r->>'unmonitored_s') || ' s of batch ' || e.batch || ' at ' || e.site
                       || ' (the limit is ' || $1 || ' s).' AS description
            FROM records e
            CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.r->'unmonitored') = 'array' THEN e.r->'unmonitored' ELSE '[]' END) u
            CROSS JOIN LATERAL (SELECT 'unmonitored|' || e.site || '|' || e.device || '|' || e.batch || '|' || coalesce(left(u->>'from', 23), '') AS key) k
            WHERE jsonb_typeof(u) = 'object' AND jsonb_typeof(e.r->'unmonitored_s') = 'number'
              AND (e.r->>'unmonitored_s')::numeric > $1::numeric
              AND NOT EXISTS (SELECT 1 FROM deviation_evidence d WHERE d.evidence_key = k.key)
            """, [String(settings.unmonitoredLimitSeconds)])
        return candidates(alarms) + candidates(unmonitored)
    }

    /// Chain breaks, differing copies and unrecoverable ranges at once; gaps once they have
    /// stayed open `gapDeviationAfterSeconds`.
    static func integrity(_ connection: PostgresConnection, settings: QualitySettings) throws -> [Candidate] {
        candidates(try connection.execute("""
            SELECT 'integrity|' || f.id AS key, 'integrity|' || f.id AS group_key, 'integrity' AS source, f.site, NULL AS batch, f.kind,
                   f.found AS time,
                   f.kind || ' on ' || coalesce(nullif(f.stream, ''), 'the site') || coalesce(' records ' || f.seq_from || '...' || coalesce(f.seq_to, f.seq_from), '')
                       || ': ' || left(f.detail, 400) AS detail,
                   '/sites/' || f.site AS link,
                   'Integrity: ' || replace(f.kind, '_', ' ') || ' on ' || coalesce(nullif(f.stream, ''), 'the site') AS title,
                   'The integrity check found a ' || replace(f.kind, '_', ' ') || ' in the records of ' || f.site || ': ' || left(f.detail, 400)
                       AS description
            FROM integrity_findings f
            WHERE (f.kind IN ('chain_break', 'conflicting_duplicate', 'unrecoverable')
                   OR (f.kind = 'gap' AND f.resolved IS NULL AND f.found < now() - make_interval(secs => $1::float8)))
              AND NOT EXISTS (SELECT 1 FROM deviation_evidence d WHERE d.evidence_key = 'integrity|' || f.id)
            ORDER BY f.id
            """, [String(settings.gapDeviationAfterSeconds)]))
    }

    /// Unregistered equipment, specs not released at batch start, batches of a suspended site.
    static func nonconformances(_ connection: PostgresConnection) throws -> [Candidate] {
        let sources = ["equipment": "unregistered_equipment", "spec": "spec_not_released", "site": "suspended_site"]
        var found: [Candidate] = []
        let known = try connection.execute("SELECT evidence_key FROM deviation_evidence WHERE evidence_key LIKE 'nonconformance|%'")
        let seen = Set(known.map { $0.string("evidence_key") }.compactMap { $0 })
        for n in try Nonconformance.load(connection) {
            guard let source = sources[n.category], n.when != "runs" else { continue }
            let key = "nonconformance|\(n.key)"
            guard !seen.contains(key) else { continue }
            let subject = n.batch.map { "batch \($0)" } ?? n.device
            let title: String = switch n.category {
            case "equipment": "Unregistered equipment: \(n.device) at \(n.site)"
            case "spec": "Spec not released at the start of \(subject)"
            default: "Batch \(n.batch ?? "") started at a suspended site"
            }
            let group = "\(n.category)|\(n.site)|" + (n.category == "equipment" ? n.device : (n.batch ?? n.device))
            found.append(Candidate(
                key: key, group: group, source: source, site: n.site, batch: n.batch, kind: n.category, time: n.first ?? n.last,
                detail: "\(n.device.isEmpty ? "" : n.device + ": ")\(n.reason)",
                link: n.batch.map { "/batches/\(n.site)/\($0)" } ?? "/sites/\(n.site)",
                title: title, description: "\(n.site) \(n.device) \(n.batch.map { "batch \($0)" } ?? ""): \(n.reason)."))
        }
        return found
    }
}

/// Scans for deviations every `scanIntervalSeconds` on a thread of its own (libpq blocks),
/// beside ingest: a service of `pocare-control run`; the thread holds one connection.
public final class DeviationWatch: Service, Sendable {
    private let thread = DedicatedThread(name: "deviation-scan")
    private let stopped = Atomic<Bool>(false)
    private let database: String
    private let settings: QualitySettings
    private let logger: Logger

    public init(database: String, settings: QualitySettings, logger: Logger) {
        self.database = database
        self.settings = settings
        self.logger = logger
    }

    /// Scans on its own thread until the service group shuts down.
    public func run() async {
        thread.start { [self] in work() }
        // Throws only when the task is cancelled, which is the other way a service is told to stop.
        try? await gracefulShutdown()
        stopped.store(true, ordering: .relaxed)
        if !(await thread.joined(within: .seconds(2))) {
            logger.warning("the deviation scan is still waiting for the database; stopping without it")
        }
    }

    private func work() {
        var connection: PostgresConnection?
        while !stopped.load(ordering: .relaxed) {
            do {
                if connection == nil || connection?.isConnected == false { connection = try PostgresConnection(database) }
                if let connection {
                    let opened = try DeviationScanner.scan(settings: settings, on: connection)
                    if !opened.isEmpty {
                        logger.notice("deviations opened", metadata: ["deviations": "\(opened.map { "DEV-\($0)" }.joined(separator: ", "))"])
                    }
                }
            } catch {
                logger.error("deviation scan failed", metadata: ["error": "\(error)"])
                connection = nil
            }
            let ticks = Int(settings.scanIntervalSeconds * 10)
            for _ in 0..<max(1, ticks) where !stopped.load(ordering: .relaxed) { usleep(100_000) }
        }
    }
}
