import ControlSiteRecords
import POCareContract
import Foundation

/// What the pages show beyond the oversight commands' reports: each device's latest values, the
/// parameters' names, and the alarms still standing.
enum PageQueries {
    struct LatestValues: Sendable {
        var device: String
        var time: String
        var batch: String?
        var phase: String?
        var values: [(parameter: String, value: String, good: Bool)]
        /// Values beyond the page's limit of parameters, or a sample too large to read (its size in bytes).
        var leftOut = 0
        var oversizedBytes: Int?
    }

    /// Each device's newest sample, found through its stream's highest number (a key lookup); a
    /// sample larger than `maxBytes` is not read, and at most `maxParameters` values are shown.
    static func latestValues(site: String, maxBytes: Int, maxParameters: Int, on connection: PostgresConnection) throws -> [LatestValues] {
        let r = try connection.execute("""
            SELECT s.device, to_char(s.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS time_utc, s.batch, s.phase,
                   CASE WHEN octet_length(s."values"::text) <= $2::int THEN s."values"::text END AS values_text,
                   CASE WHEN octet_length(coalesce(s.quality::text, '')) <= $2::int THEN coalesce(s.quality::text, '{}') END AS quality_text,
                   octet_length(s."values"::text) AS values_bytes
            FROM streams t CROSS JOIN LATERAL stream_samples(t.site, t.epoch, t.stream, t.highest, t.highest) s
            WHERE t.site = $1 AND t.stream LIKE '%/telemetry'
            ORDER BY s.device
            """, [site, String(maxBytes)])
        return r.map { row -> LatestValues? in
            guard let device = row.string("device"), let time = row.string("time_utc") else { return nil }
            var latest = LatestValues(device: device, time: time, batch: row.string("batch"), phase: row.string("phase"), values: [])
            guard let text = row.string("values_text") else {
                latest.oversizedBytes = Int(row.int("values_bytes") ?? 0)
                return latest
            }
            let values = JSONScalar.object(text), quality = JSONScalar.object(row.string("quality_text"))
            let keys = values.keys.sorted()
            latest.values = keys.prefix(maxParameters).map { key in (key, values[key]?.text ?? "-", quality[key] == nil) }
            latest.leftOut = max(0, keys.count - maxParameters)
            return latest
        }.compactMap { $0 }
    }

    /// Each device's parameters as its metadata names them (the site's published profile):
    /// display name and unit by parameter id, per device.
    static func parameterNames(site: String, on connection: PostgresConnection) throws -> [String: [String: (name: String, unit: String)]] {
        let r = try connection.execute("""
            SELECT m.device, p->>'id' AS parameter, coalesce(p->>'name', '') AS name, coalesce(p->>'unit', '') AS unit
            FROM device_metadata m, jsonb_array_elements(coalesce(m.metadata->'parameters', '[]')) p
            WHERE m.site = $1 AND m.metadata IS NOT NULL AND jsonb_typeof(m.metadata->'parameters') = 'array'
            """, [site])
        var names: [String: [String: (name: String, unit: String)]] = [:]
        for row in r.map({ $0 }) {
            guard let device = row.string("device"), let id = row.string("parameter") else { continue }
            names[device, default: [:]][id] = (row.string("name") ?? "", row.string("unit") ?? "")
        }
        return names
    }

    struct StandingAlarm: Sendable {
        var site: String
        var alarm: String
        var state: String
        var priority: String
        var level: String
        var since: String
        /// `standing` (raised and not cleared, acknowledged or not), `shelved` or `out_of_service`.
        var category: String
    }

    /// Each alarm by its last transition: standing while its condition stands (raised and not
    /// cleared, acknowledged or not, or latched); shelved and out-of-service ones apart. The
    /// state the site recorded with the event decides; an event without one (an older site)
    /// by its kind.
    static func standingAlarms(site: String?, on connection: PostgresConnection) throws -> [StandingAlarm] {
        let r = try connection.execute("""
            SELECT site, alarm, kind, priority, level, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since_utc, state,
                   CASE WHEN state IN ('active_unacknowledged', 'active_acknowledged', 'latched') THEN 'standing'
                        WHEN state = 'shelved' OR (state = '' AND kind = 'shelved') THEN 'shelved'
                        WHEN state = 'out_of_service' OR (state = '' AND kind = 'out_of_service') THEN 'out_of_service'
                        WHEN state = '' AND kind IN ('raised', 'escalated', 'deescalated', 'acknowledged') THEN 'standing'
                        ELSE '' END AS category
            FROM (
                SELECT DISTINCT ON (site, record->'event'->>'alarm') site, record->'event'->>'alarm' AS alarm, kind, time,
                       coalesce(record->'event'->>'priority', '') AS priority, coalesce(record->'event'->>'level', '') AS level,
                       coalesce(record->'event'->>'state', '') AS state
                FROM events
                WHERE ($1::text IS NULL OR site = $1) AND record->'event' ? 'alarm' AND kind NOT IN ('excursion', 'batch_record')
                ORDER BY site, record->'event'->>'alarm', time DESC, seq DESC) last
            ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, time
            """, [site])
        return r.map { row -> StandingAlarm? in
            guard let category = row.string("category"), !category.isEmpty else { return nil }
            return StandingAlarm(site: row.string("site") ?? "", alarm: row.string("alarm") ?? "",
                                 state: row.string("state").flatMap { $0.isEmpty ? nil : $0 } ?? row.string("kind") ?? "",
                                 priority: row.string("priority") ?? "", level: row.string("level") ?? "", since: row.string("since_utc") ?? "",
                                 category: category)
        }.compactMap { $0 }
    }
}

func SVGTextNumber(_ x: Double) -> String { x.isFinite ? String(format: "%.4g", x) : "-" }

/// One value of a stored JSON object, as the pages need it: a number, a flag, a label, or other.
enum JSONScalar: Decodable, Equatable {
    case number(Double), flag(Bool), label(String), other

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Each JSON type in turn; a value that is none of them (an object, an array, null) is `other`.
        if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let b = try? c.decode(Bool.self) { self = .flag(b) }
        else if let s = try? c.decode(String.self) { self = .label(s) }
        else { self = .other }
    }

    var text: String {
        switch self {
        case .number(let d): SVGTextNumber(d)
        case .flag(let b): b ? "true" : "false"
        case .label(let s): s
        case .other: "-"
        }
    }

    /// A stored object's fields; text that is not a JSON object gives none.
    static func object(_ text: String?) -> [String: JSONScalar] {
        guard let text else { return [:] }
        // As documented: text that is not a JSON object gives no fields (the page shows "-").
        return (try? JSONDecoder().decode([String: JSONScalar].self, from: Data(text.utf8))) ?? [:]
    }
}
