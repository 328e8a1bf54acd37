import ControlSiteRecords
import POCareContract
import Foundation
import Hashing

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
                  JOIN samples s ON s.site = r.site AND s.epoch = r.epoch AND s.stream = r.stream
                                AND s.seq BETWEEN r.first_seq AND r.last_seq AND s.batch = r.batch
                  WHERE r.site = $1 AND r.batch = $2) x
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

    /// SHA-256 of the canonical text, hex; nil when the batch has no records.
    public static func hash(site: String, batch: String, on connection: PostgresConnection) throws -> String? {
        try canonicalText(site: site, batch: batch, on: connection).map { SHA256.hex($0) }
    }

    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    }
}
