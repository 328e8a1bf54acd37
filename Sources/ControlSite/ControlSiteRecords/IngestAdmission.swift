import Foundation
import Hashing
import POCareContract

/// Which records a site's device may send: those of a device its births name, with values its
/// published metadata names. Anything else is held aside as it came (`held_messages`), with a
/// `held_aside` finding on the site, and is never a sample, an event or a batch. A birth or
/// metadata that names it later releases it, so records that overtook their device's birth
/// (another writer, another instance) are stored in the end.
///
/// Owned by one ingest writer, on its thread, like the writer's connection.
final class IngestAdmission {
    /// Held messages kept per device, at most; beyond, only the finding counts them.
    static let heldPerDevice = 1000

    private let topicRoot: String
    /// Parameter ids by metadata fingerprint: the metadata under a fingerprint never changes.
    private var parameterSets: [String: Set<String>] = [:]

    init(topicRoot: String) { self.topicRoot = topicRoot }

    struct SiteDevices {
        var named: Set<String> = []
        /// Device to the fingerprint of its metadata.
        var metadata: [String: String] = [:]
    }

    struct Admitted {
        var accepted: [RecordMessage]
        var held: Int
    }

    /// Splits `records` into those to store and those held aside (written to `held_messages` here).
    func admit(_ records: [RecordMessage], on connection: PostgresConnection) throws -> Admitted {
        guard records.contains(where: { Self.isDeviceStream($0) }) else { return Admitted(accepted: records, held: 0) }
        var known = try load(Set(records.map(\.site)), on: connection)
        var result = Admitted(accepted: [], held: 0)
        var locked = Set<String>()
        for message in records {
            guard var reason = try refusal(message, known[message.site] ?? .init(), on: connection) else {
                result.accepted.append(message)
                continue
            }
            // A birth or metadata may be committing on another connection: look again under the
            // site's lock, which `writeStatus` and `writeMetadata` take before releasing.
            if !locked.contains(message.site) {
                try connection.execute("INSERT INTO sites (site) VALUES ($1) ON CONFLICT (site) DO NOTHING", [message.site])
                try connection.execute("SELECT 1 FROM sites WHERE site = $1 FOR SHARE", [message.site])
                locked.insert(message.site)
                known.merge(try load([message.site], on: connection)) { _, fresh in fresh }
                guard let again = try refusal(message, known[message.site] ?? .init(), on: connection) else {
                    result.accepted.append(message)
                    continue
                }
                reason = again
            }
            try hold(message, reason: reason, on: connection)
            result.held += 1
        }
        return result
    }

    /// Held messages of devices a birth or metadata of this transaction names, parsed again, for
    /// the writer to admit like any others (they are held again if still not admitted).
    func release(_ devices: Set<SiteDevice>, on connection: PostgresConnection) throws -> [RecordMessage] {
        var released: [RecordMessage] = []
        for key in devices.sorted(by: { ($0.site, $0.device) < ($1.site, $1.device) }) {
            let rows = try connection.execute("""
                UPDATE held_messages SET released = now()
                WHERE id IN (SELECT id FROM held_messages WHERE site = $1 AND device = $2 AND released IS NULL ORDER BY id LIMIT 1000)
                RETURNING stream, encode(payload, 'base64') AS payload_base64
                """, [key.site, key.device])
            for row in rows.map({ $0 }) {
                guard let stream = row.string("stream"), let text = row.string("payload_base64"),
                      let payload = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else { continue }
                // What was held was the contract's when it came; a message that no longer parses stays released and is gone
                // from the records, as any refused message is.
                if case .records(let message)? = try? ContractMessage.parse(
                    topic: "\(topicRoot)/\(key.site)/\(stream)", payload: Array(payload), root: topicRoot) {
                    released.append(message)
                }
            }
            try connection.execute("""
                UPDATE integrity_findings SET resolved = now()
                WHERE kind = 'held_aside' AND site = $1 AND stream IN ($2 || '/telemetry', $2 || '/events') AND resolved IS NULL
                  AND NOT EXISTS (SELECT 1 FROM held_messages h WHERE h.site = $1 AND h.device = $2 AND h.released IS NULL)
                """, [key.site, key.device])
        }
        return released
    }

    /// Why a message is held; nil when it may be stored.
    private func refusal(_ m: RecordMessage, _ known: SiteDevices, on connection: PostgresConnection) throws -> String? {
        guard Self.isDeviceStream(m), let device = m.device else { return nil }
        guard known.named.contains(device) else { return "device '\(device)' is not named by any birth of site '\(m.site)'" }
        guard m.kind == .sample else { return nil }
        guard let fingerprint = known.metadata[device] else { return "device '\(device)' has no published metadata here" }
        let parameters = try parameterSet(fingerprint, site: m.site, device: device, on: connection)
        var checked: [String] = []
        for sample in m.samples where sample.parameters != checked {
            if let unknown = sample.parameters.first(where: { !parameters.contains($0) }) {
                return "sample \(sample.seq): '\(unknown.prefix(64))' is not a parameter of \(device)'s metadata (\(fingerprint.prefix(19)))"
            }
            checked = sample.parameters
        }
        return nil
    }

    static func isDeviceStream(_ m: RecordMessage) -> Bool {
        m.kind != .audit && m.stream != StreamName.siteEvents.description && m.device != nil
    }

    private func load(_ sites: Set<String>, on connection: PostgresConnection) throws -> [String: SiteDevices] {
        let list = "{" + sites.sorted().map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
        var known: [String: SiteDevices] = [:]
        for site in sites { known[site] = SiteDevices() }
        let named = try connection.execute("SELECT site, device FROM site_devices WHERE site = ANY($1::text[])", [list])
        for row in named.map({ $0 }) {
            if let site = row.string("site"), let device = row.string("device") { known[site, default: .init()].named.insert(device) }
        }
        let meta = try connection.execute("""
            SELECT site, device, fingerprint FROM device_metadata
            WHERE site = ANY($1::text[]) AND metadata IS NOT NULL AND fingerprint IS NOT NULL
            """, [list])
        for row in meta.map({ $0 }) {
            if let site = row.string("site"), let device = row.string("device"), let fp = row.string("fingerprint") {
                known[site, default: .init()].metadata[device] = fp
            }
        }
        return known
    }

    private func parameterSet(_ fingerprint: String, site: String, device: String, on connection: PostgresConnection) throws -> Set<String> {
        if let known = parameterSets[fingerprint] { return known }
        let rows = try connection.execute("""
            SELECT p->>'id' AS parameter FROM device_metadata m, jsonb_array_elements(m.metadata->'parameters') p
            WHERE m.site = $1 AND m.device = $2 AND m.fingerprint = $3 AND jsonb_typeof(m.metadata->'parameters') = 'array'
            """, [site, device, fingerprint])
        let ids = Set(rows.map { $0.string("parameter") }.compactMap { $0 })
        if parameterSets.count > 10_000 { parameterSets.removeAll() }
        parameterSets[fingerprint] = ids
        return ids
    }

    /// Keeps the message as it came (telemetry keeps its whole payload; an event's record is its
    /// payload), and notes the finding on the site's stream.
    private func hold(_ m: RecordMessage, reason: String, on connection: PostgresConnection) throws {
        guard let first = m.records.first else { return }
        let payload = m.payload.isEmpty ? Array(first) : m.payload
        let digest = SHA256.hex(payload)
        let device = m.device ?? ""
        let count = try connection.execute(
            "SELECT count(*) AS held FROM held_messages WHERE site = $1 AND device = $2 AND released IS NULL", [m.site, device])
        if (count.int(0, "held") ?? 0) < Int64(Self.heldPerDevice) {
            try connection.execute("""
                INSERT INTO held_messages (site, device, epoch, stream, seq_from, seq_to, reason, payload, digest)
                VALUES ($1, $2, $3, $4, $5, $6, $7, decode($8, 'base64'), $9)
                ON CONFLICT (site, stream, digest) DO UPDATE SET released = NULL, reason = excluded.reason, received = now()
                """, [m.site, device, m.epoch, m.stream, String(m.seqFirst), String(m.seqLast), reason,
                      Data(payload).base64EncodedString(), digest])
        }
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            VALUES ('held_aside', $1, $2, $3, NULL, NULL, $4)
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail, resolved = NULL
            """, [m.site, m.epoch, m.stream, "records \(m.seqFirst)...\(m.seqLast) held aside, never a batch: \(reason)"])
    }
}

/// A device of a site.
struct SiteDevice: Hashable {
    var site: String
    var device: String
}
