import ControlSiteRecords
import Foundation
import POCareCore

/// What was kept of a batch's reading for its pages and comparisons (`BatchRecordDigest.current`,
/// `KeptSiteRecordChecks`) is tied to the version of the batch's record, so it is what reading
/// the rows again gives, unless someone wrote it in the database outside the Control Site. A
/// page shows it and a comparison reads it; a signature never uses it. `pocare-control verify`
/// reads the rows again and compares: what differs is named and dropped, to be read again from
/// the rows.
public enum KeptReadingsCheck {
    public struct Result: Sendable {
        public var lines: [String] = []
        public var intact = true
    }

    /// Every batch of the site (or the one named) with a record hash or site-record checks kept
    /// for its record as it is now.
    public static func verify(site: String, batch only: String?, specs: SpecLookup, on connection: PostgresConnection) throws -> Result {
        let batches = try connection.execute("""
            SELECT v.batch,
                   EXISTS (SELECT 1 FROM batch_record_hashes h WHERE h.site = v.site AND h.batch = v.batch AND h.version = v.version) AS hash_kept,
                   EXISTS (SELECT 1 FROM site_record_checks k WHERE k.site = v.site AND k.batch = v.batch AND k.version = v.version) AS checks_kept
            FROM batch_record_versions v
            WHERE v.site = $1 AND ($2::text IS NULL OR v.batch = $2)
            ORDER BY v.batch
            """, [site, only])
        var result = Result()
        var compared = 0
        for row in batches.map({ $0 }) {
            guard let batch = row.string("batch") else { continue }
            let hashKept = row.bool("hash_kept") == true, checksKept = row.bool("checks_kept") == true
            guard hashKept || checksKept else { continue }
            // An archived month's samples are not here to read: its kept readings are not checked.
            if !(try SampleArchive.archivedMonths(site: site, batch: batch, on: connection)).isEmpty {
                result.lines.append("batch \(batch): part of its record is archived; what was kept of it is not checked")
                continue
            }
            compared += 1
            var differs: [String] = []
            if hashKept, let kept = try BatchRecordDigest.current(site: site, batch: batch, on: connection),
               let rows = try BatchRecordDigest.hash(site: site, batch: batch, on: connection), kept != rows {
                differs.append("the record hash kept for its page is \(kept), the rows' is \(rows)")
            }
            let lookup = { (fingerprint: String) in try specs.ran(fingerprint, on: connection) }
            if checksKept, let kept = try KeptSiteRecordChecks.kept(site: site, batch: batch, specs: lookup, on: connection),
               kept != (try SiteBatchRecordCheck.load(connection, site: site, batch: batch, specs: lookup)) {
                differs.append("the checks of its site records kept for pages and comparisons are not what the rows give")
            }
            guard !differs.isEmpty else { continue }
            result.intact = false
            try drop(site: site, batch: batch, on: connection)
            result.lines.append("""
                batch \(batch): \(differs.joined(separator: "; ")): written in the database outside the Control Site; \
                dropped, to be read again from the rows
                """)
        }
        result.lines.append(result.intact
            ? "kept readings: \(compared) batch(es) read again from the rows, each as kept"
            : "kept readings: some differ from the rows (above)")
        return result
    }

    /// Everything kept of the batch's reading, whatever its version.
    static func drop(site: String, batch: String, on connection: PostgresConnection) throws {
        try connection.transaction {
            for table in ["batch_record_hashes", "prepared_batch_reviews", "site_record_checks", "batch_chain_walks"] {
                try connection.execute("DELETE FROM \(table) WHERE site = $1 AND batch = $2", [site, batch])
            }
        }
    }
}
