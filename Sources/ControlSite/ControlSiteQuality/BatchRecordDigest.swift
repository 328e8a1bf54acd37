import ControlSiteRecords
import POCareContract
import Foundation
import Hashing
import POCareCore

/// The bytes a signature is bound to: the batch record as the Control Site holds it, in one
/// canonical form (`pocare-batch-record/1`): its phases, every event with its body as stored,
/// and a digest of every sample of the batch (stream, number, time, values, quality). Any later
/// change to a stored sample, event or phase row gives another hash, and the signature shows
/// INVALID. Findings and conformance are not part of it: they are judgements about the record,
/// shown beside the sign button, not the record itself.
public enum BatchRecordDigest {
    public static func canonicalText(site: String, batch: String, on connection: PostgresConnection) throws -> String? {
        let phases = try connection.execute("""
            SELECT device, phase, spec, stream, epoch, \(iso("first_time")), \(iso("last_time")), first_seq, last_seq, samples
            FROM batch_runs WHERE site = $1 AND batch = $2 ORDER BY device, stream, epoch, first_seq, phase, spec
            """, [site, batch])
        guard phases.rowCount > 0 else { return nil }
        // Without an archived month's samples the digest would be another record's: refused, not guessed.
        try refuseArchived(site: site, batch: batch, on: connection)
        let events = try connection.execute("""
            SELECT stream, seq, \(iso("time")), kind, coalesce(phase, ''), record::text
            FROM events WHERE site = $1 AND batch = $2 ORDER BY stream, epoch, seq
            """, [site, batch])
        // One SHA-256 per sample, in SQL, then one over them all: the samples never leave the database.
        let samples = try connection.execute("""
            SELECT count(*) AS samples,
                   encode(sha256(convert_to(coalesce(string_agg(d, '' ORDER BY stream, epoch, seq), ''), 'UTF8')), 'hex') AS digest
            FROM (SELECT s.stream, s.epoch, s.seq,
                         encode(sha256(convert_to(s.stream || ' ' || s.seq || ' ' || \(iso("s.time")) || ' ' || s."values"::text
                                                  || ' ' || coalesce(s.quality::text, '') || ' ' || coalesce(s.phase, '')
                                                  || ' ' || coalesce(s.spec, ''), 'UTF8')), 'hex') AS d
                  FROM batch_runs r
                  CROSS JOIN LATERAL stream_samples(r.site, r.epoch, r.stream, r.first_seq, r.last_seq) s
                  WHERE r.site = $1 AND r.batch = $2 AND s.batch = r.batch) x
            """, [site, batch])
        var parts = [CanonicalJSON.string("pocare-batch-record/1"), CanonicalJSON.string(site), CanonicalJSON.string(batch)]
        // Whole rows in the order the SELECTs list their columns: that order is part of the digest's definition.
        parts.append(CanonicalJSON.array(phases.rows.map { row in CanonicalJSON.array(row.map { CanonicalJSON.optional($0) }) }))
        parts.append(CanonicalJSON.array(events.rows.map { row in CanonicalJSON.array(row.map { CanonicalJSON.optional($0) }) }))
        parts.append(CanonicalJSON.array([samples.string(0, "samples") ?? "0", CanonicalJSON.optional(samples.string(0, "digest"))]))
        return CanonicalJSON.array(parts)
    }

    /// Refuses a batch whose samples reach into an archived month, naming where it is and the way back.
    public static func refuseArchived(site: String, batch: String, on connection: PostgresConnection) throws {
        let archived = try SampleArchive.archivedMonths(site: site, batch: batch, on: connection)
        guard archived.isEmpty else {
            throw QualityRefusal(.stateConflict, """
                Part of the record of batch \(batch) at \(site) is archived (\(archived.map { "\($0.month) in \($0.location)" }.joined(separator: ", "))); \
                `pocare-control restore --month MONTH --from DIR` brings it back before the record is shown, verified or signed.
                """)
        }
    }

    /// SHA-256 of the canonical text, hex; nil when the batch has no records. Always computed from the rows.
    public static func hash(site: String, batch: String, on connection: PostgresConnection) throws -> String? {
        try canonicalText(site: site, batch: batch, on: connection).map { SHA256.hex($0) }
    }

    /// The hash now, as `hash` computes it, without computing it again while the record has not
    /// changed: every change of the record takes a new version in `batch_record_versions` in its
    /// own transaction, and a hash is kept only with the version that stood before and after it
    /// was computed. `fresh` computes it from the rows whatever is kept (a signature binds that one).
    public static func current(site: String, batch: String, fresh: Bool = false, on connection: PostgresConnection) throws -> String? {
        try refuseArchived(site: site, batch: batch, on: connection)
        let before = try connection.execute("""
            SELECT v.version, h.record_hash FROM batch_record_versions v
            LEFT JOIN batch_record_hashes h ON h.site = v.site AND h.batch = v.batch AND h.version = v.version
            WHERE v.site = $1 AND v.batch = $2
            """, [site, batch])
        if !fresh, let kept = before.string(0, "record_hash") { return kept }
        let clock = ContinuousClock(), began = clock.now
        guard let hash = try hash(site: site, batch: batch, on: connection) else { return nil }
        let seconds = Double((clock.now - began).nanoseconds) / 1e9
        if let version = before.int(0, "version") {
            // Kept only when no change committed while it was computed: then it is the hash of that version.
            try connection.execute("""
                INSERT INTO batch_record_hashes (site, batch, version, record_hash, seconds)
                SELECT $1, $2, $3, $4, $5 FROM batch_record_versions WHERE site = $1 AND batch = $2 AND version = $3
                ON CONFLICT (site, batch) DO UPDATE SET version = excluded.version, record_hash = excluded.record_hash,
                    computed = now(), seconds = excluded.seconds
                WHERE batch_record_hashes.version <= excluded.version
                """, [site, batch, String(version), hash, String(seconds)])
        }
        return hash
    }

    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    }
}
