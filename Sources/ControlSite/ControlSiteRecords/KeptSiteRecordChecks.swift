import Foundation
import POCareCore

/// The checks of a batch's site records against its samples, read once per version of the
/// batch's record. Each check reads every sample of the device's part of the batch; a
/// comparison checks every batch it includes, and a batch page checks its own, so for batches
/// of weeks the checks are kept with the version they were read at (`batch_record_versions`,
/// which every change of the record takes in its own transaction), the devices' metadata that
/// decides which parameters are followed, and which specs could be read. A check kept for
/// another version, other metadata or a spec that now reads differently is read again.
public enum KeptSiteRecordChecks {
    /// The checks as reading the samples now would give them: kept ones while they still are,
    /// else read (within `checkpoint`) and kept. `fresh` reads them whatever is kept (a
    /// signature's gate decides on the samples as they are).
    public static func current(
        site: String, batch: String, specs: (String) throws -> IPCSpec?, fresh: Bool = false, checkpoint: () throws -> Void = {},
        on connection: PostgresConnection
    ) throws -> [SiteBatchRecordCheck] {
        let state = try connection.execute("""
            SELECT v.version, \(PreparedBatchReviews.metadataSQL("$1", "$2")) AS metadata,
                   k.metadata AS kept_metadata, k.specs::text AS kept_specs, k.checks AS kept_checks
            FROM (SELECT $1::text AS site, $2::text AS batch) b
            LEFT JOIN batch_record_versions v ON v.site = b.site AND v.batch = b.batch
            LEFT JOIN site_record_checks k ON k.site = b.site AND k.batch = b.batch AND k.version = v.version
            """, [site, batch])
        let version = state.int(0, "version"), metadata = state.string(0, "metadata") ?? ""
        if !fresh, version != nil, state.string(0, "kept_metadata") == metadata,
           let specsText = state.string(0, "kept_specs"), let checksText = state.string(0, "kept_checks"),
           let kept = try stillValid(specsText: specsText, checksText: checksText, specs: specs) {
            return kept
        }
        let clock = ContinuousClock(), began = clock.now
        var looked: [String: Bool] = [:]
        let checks = try SiteBatchRecordCheck.load(connection, site: site, batch: batch, specs: { fingerprint in
            let spec = try specs(fingerprint)
            looked[fingerprint] = spec != nil
            return spec
        }, checkpoint: checkpoint)
        if let version {
            // Kept only when the version read before still stands: a change committed meanwhile took a new one.
            try connection.execute("""
                INSERT INTO site_record_checks (site, batch, version, metadata, specs, checks, seconds)
                SELECT $1, $2, $3, $4, $5::jsonb, $6, $7 FROM batch_record_versions WHERE site = $1 AND batch = $2 AND version = $3
                ON CONFLICT (site, batch) DO UPDATE SET version = excluded.version, metadata = excluded.metadata, specs = excluded.specs,
                    checks = excluded.checks, checked = now(), seconds = excluded.seconds
                WHERE site_record_checks.version <= excluded.version
                """, [site, batch, String(version), metadata, String(decoding: try JSONEncoder().encode(looked), as: UTF8.self),
                      String(decoding: try PreparedBatchReviews.encoder.encode(checks), as: UTF8.self),
                      String(Double((clock.now - began).nanoseconds) / 1e9)])
        }
        return checks
    }

    /// The checks kept for the record's current version that `current` would use now; nil when none would be.
    public static func kept(site: String, batch: String, specs: (String) throws -> IPCSpec?, on connection: PostgresConnection) throws
        -> [SiteBatchRecordCheck]?
    {
        let state = try connection.execute("""
            SELECT \(PreparedBatchReviews.metadataSQL("$1", "$2")) AS metadata, k.metadata AS kept_metadata, k.specs::text AS kept_specs,
                   k.checks AS kept_checks
            FROM site_record_checks k JOIN batch_record_versions v USING (site, batch)
            WHERE k.site = $1 AND k.batch = $2 AND k.version = v.version
            """, [site, batch])
        guard state.rowCount == 1, state.string(0, "kept_metadata") == state.string(0, "metadata"),
              let specsText = state.string(0, "kept_specs"), let checksText = state.string(0, "kept_checks") else { return nil }
        return try stillValid(specsText: specsText, checksText: checksText, specs: specs)
    }

    /// The kept checks, unless a spec they looked up now reads differently (released or
    /// withdrawn since: other limits apply) or they cannot be read back (written by another
    /// version of this software): then nil, and they are read again from the samples.
    static func stillValid(specsText: String, checksText: String, specs: (String) throws -> IPCSpec?) throws -> [SiteBatchRecordCheck]? {
        guard let looked = try? JSONDecoder().decode([String: Bool].self, from: Data(specsText.utf8)) else { return nil }
        for (fingerprint, found) in looked where (try specs(fingerprint) != nil) != found { return nil }
        return try? PreparedBatchReviews.decoder.decode([SiteBatchRecordCheck].self, from: Data(checksText.utf8))
    }
}
