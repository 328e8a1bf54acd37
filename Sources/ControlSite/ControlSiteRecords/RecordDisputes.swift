import Foundation
import POCareContract

/// A record that arrived in two differing copies: both are kept, and the record is disputed
/// until QA says which copy is the record (a QA action, audited). While it is open, no batch
/// either copy names can be signed (`openCount`, checked by the signature itself).
public struct RecordDispute: Sendable, Codable, Equatable {
    public struct Version: Sendable, Codable, Equatable {
        public var digest: String
        public var hash: String?
        public var received: String
        /// Whether this is the copy the record's table holds now.
        public var stored: Bool
        public var content: String
    }

    public var id: Int64
    public var site: String
    public var epoch: String
    public var stream: String
    public var seq: Int64
    public var kind: String
    public var batches: [String]
    public var opened: String
    public var resolved: String?
    public var resolvedBy: String?
    /// `stored` or `received`: which copy QA kept.
    public var kept: String?
    public var reason: String?
    public var versions: [Version]

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    public enum Keep: String, Sendable, CaseIterable { case stored, received }

    /// Open disputes over records of the batch at the site.
    public static func openCount(site: String, batch: String, on connection: PostgresConnection) throws -> Int {
        Int(try connection.execute(
            "SELECT count(*) AS open FROM record_disputes WHERE site = $1 AND $2 = ANY(batches) AND resolved IS NULL", [site, batch])
            .int(0, "open") ?? 0)
    }

    /// Disputes, open ones first; only open ones unless `all`; of one site or batch when given.
    public static func list(_ connection: PostgresConnection, all: Bool = false, site: String? = nil, batch: String? = nil) throws -> [RecordDispute] {
        let rows = try connection.execute("""
            SELECT id, site, epoch, stream, seq, kind, array_to_json(batches)::text AS batches_json,
                   \(SQLTime.iso("opened")) AS opened_utc, \(SQLTime.iso("resolved")) AS resolved_utc, resolved_by, kept, reason
            FROM record_disputes
            WHERE ($1::boolean OR resolved IS NULL) AND ($2::text IS NULL OR site = $2) AND ($3::text IS NULL OR $3 = ANY(batches))
            ORDER BY resolved IS NOT NULL, opened, id LIMIT 1000
            """, [all ? "true" : "false", site, batch])
        return try rows.map { row in
            // array_to_json of a text[] is a JSON array of strings; nothing else can come back.
            let batches = (try? JSONDecoder().decode([String].self, from: Data((row.string("batches_json") ?? "[]").utf8))) ?? []
            var d = RecordDispute(
                id: row.int("id") ?? 0, site: row.string("site") ?? "", epoch: row.string("epoch") ?? "", stream: row.string("stream") ?? "",
                seq: row.int("seq") ?? 0, kind: row.string("kind") ?? "", batches: batches, opened: row.string("opened_utc") ?? "",
                resolved: row.string("resolved_utc"), resolvedBy: row.string("resolved_by"), kept: row.string("kept"),
                reason: row.string("reason"), versions: [])
            d.versions = try versions(of: d, on: connection)
            return d
        }
    }

    static func versions(of d: RecordDispute, on connection: PostgresConnection) throws -> [Version] {
        guard let kind = RecordKind(rawValue: d.kind) else { return [] }
        let stored = try connection.execute("""
            SELECT md5((\(IngestWriter.versionContent(kind, of: "s")))::text) AS digest FROM \(kind == .sample ? "stored_samples" : IngestWriter.table(kind)) s
            WHERE s.site = $1 AND s.epoch = $2 AND s.stream = $3 AND s.seq = $4::bigint
            """, [d.site, d.epoch, d.stream, String(d.seq)]).string(0, "digest")
        let rows = try connection.execute("""
            SELECT digest, hash, \(SQLTime.iso("received")) AS received_utc, content::text AS content FROM record_versions
            WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = $4::bigint ORDER BY received, digest
            """, [d.site, d.epoch, d.stream, String(d.seq)])
        return rows.map { row in
            Version(digest: row.string("digest") ?? "", hash: row.string("hash"), received: row.string("received_utc") ?? "",
                    stored: row.string("digest") == stored, content: row.string("content") ?? "")
        }
    }

    /// QA decides which copy is the record. Keeping the received copy puts it in the record's
    /// table (the other stays among the versions) and counts the batch's samples again. Audited
    /// with the Control Site's trail in the same transaction.
    public static func resolve(
        id: Int64, keep: Keep, version digest: String? = nil, reason: String, user: String, on connection: PostgresConnection
    ) throws -> RecordDispute {
        let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !why.isEmpty else { throw Refusal(description: "a reason is required") }
        return try connection.transaction {
            let found = try connection.execute("SELECT resolved IS NULL AS open FROM record_disputes WHERE id = $1::bigint FOR UPDATE", [String(id)])
            guard found.rowCount == 1 else { throw Refusal(description: "no dispute \(id)") }
            guard found.bool(0, "open") == true else { throw Refusal(description: "dispute \(id) is resolved already") }
            guard let dispute = try list(connection, all: true).first(where: { $0.id == id }), let kind = RecordKind(rawValue: dispute.kind) else {
                throw Refusal(description: "no dispute \(id)")
            }
            var kept = dispute.versions.first(where: \.stored)
            if keep == .received {
                let others = dispute.versions.filter { version in !version.stored && (digest.map { version.digest.hasPrefix($0) } ?? true) }
                guard others.count == 1, let chosen = others.first else {
                    throw Refusal(description: "name the version to keep (--version DIGEST): \(dispute.versions.filter { !$0.stored }.map(\.digest).joined(separator: ", "))")
                }
                try replace(dispute, kind: kind, with: chosen, on: connection)
                kept = chosen
            }
            try connection.execute("""
                UPDATE record_disputes SET resolved = now(), resolved_by = $2, kept = $3, reason = $4 WHERE id = $1::bigint
                """, [String(id), user, keep.rawValue, why])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "record.dispute.resolve", target: "\(dispute.site)/\(dispute.stream)/\(dispute.seq)", reason: why,
                oldValue: dispute.versions.first(where: \.stored).map { "stored \($0.digest)" },
                newValue: "kept \(keep.rawValue) \(kept?.digest ?? "-")"), to: connection)
            return try list(connection, all: true).first { $0.id == id } ?? dispute
        }
    }

    /// Puts a kept version in the record's table; a sample's batch runs are counted again.
    static func replace(_ d: RecordDispute, kind: RecordKind, with version: Version, on connection: PostgresConnection) throws {
        let key = [d.site, d.epoch, d.stream, String(d.seq), version.content]
        switch kind {
        case .sample:
            // A record kept in a chunk is made a row again before it is replaced.
            try connection.execute("SELECT sample_chunks_expand($1, $2, $3, $4::bigint, $4::bigint)", Array(key.prefix(4)))
            let old = try connection.execute(
                "SELECT batch FROM samples WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = $4::bigint", Array(key.prefix(4)))
            // Batch runs are counted again from the samples held: a batch with an archived month would lose that part.
            for batch in d.batches {
                let archived = try SampleArchive.archivedMonths(site: d.site, batch: batch, on: connection)
                guard archived.isEmpty else {
                    throw Refusal(description: "batch \(batch) has samples in archived months (\(archived.map(\.month).joined(separator: ", "))): "
                                  + "restore them before this dispute is resolved")
                }
            }
            // The rollups of the minutes the sample leaves and enters, and of its predecessor's
            // (whose interval ends at it), are computed again from the samples.
            let stream = StreamKey(site: d.site, epoch: d.epoch, stream: d.stream)
            var minutes = try MinuteRollupCheck.minutesAround(stream, seq: d.seq, on: connection)
            try connection.execute("""
                UPDATE samples SET time = (v->>'time')::timestamptz, cycle = (v->>'cycle')::bigint, batch = v->>'batch',
                    phase = v->>'phase', spec = v->>'spec', "values" = (v->>'values')::json, quality = (v->>'quality')::json,
                    hash = v->>'hash', previous_hash = v->>'previous_hash'
                FROM (SELECT $5::jsonb AS v) x
                WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = $4::bigint
                """, key)
            let batches = Set([old.string(0, "batch"), (try JSONSerialization.jsonObject(with: Data(version.content.utf8)) as? [String: Any])?["batch"] as? String]
                .compactMap { $0 })
            for batch in batches { try recountBatchRuns(site: d.site, epoch: d.epoch, stream: d.stream, batch: batch, on: connection) }
            minutes.formUnion(try MinuteRollupCheck.minutesAround(stream, seq: d.seq, on: connection))
            try MinuteRollupCheck.recompute(stream, minutes: minutes, on: connection)
        case .event:
            try connection.execute("""
                UPDATE events SET time = (v->>'time')::timestamptz, kind = coalesce(v->>'kind', ''), batch = v->>'batch',
                    phase = v->>'phase', spec = v->>'spec', record = v, hash = v->>'hash', previous_hash = v->>'previous_hash'
                FROM (SELECT $5::jsonb AS v) x
                WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = $4::bigint
                """, key)
        case .audit:
            try connection.execute("""
                UPDATE audit_entries SET time = (v->>'time')::timestamptz, user_name = v->>'user', action = v->>'action',
                    target = v->>'target', record = v, hash = v->>'hash', previous_hash = v->>'previous_hash'
                FROM (SELECT $5::jsonb AS v) x
                WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq = $4::bigint
                """, key)
        }
    }

    /// A batch's runs on one stream, counted again from the samples held.
    static func recountBatchRuns(site: String, epoch: String, stream: String, batch: String, on connection: PostgresConnection) throws {
        let k = [site, epoch, stream, batch]
        try connection.execute("DELETE FROM batch_runs WHERE site = $1 AND epoch = $2 AND stream = $3 AND batch = $4", k)
        try connection.execute("""
            INSERT INTO batch_runs (site, device, batch, spec, phase, epoch, stream, first_time, last_time, first_seq, last_seq, samples)
            SELECT site, device, batch, coalesce(spec, ''), coalesce(phase, ''), epoch, stream, min(time), max(time), min(seq), max(seq), count(*)
            FROM stored_samples WHERE site = $1 AND epoch = $2 AND stream = $3 AND batch = $4
            GROUP BY site, device, batch, coalesce(spec, ''), coalesce(phase, ''), epoch, stream
            """, k)
    }
}
