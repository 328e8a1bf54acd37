import ControlSiteRecords
import Foundation

/// The disposition of a batch: QA's review, then the QP's certification or rejection.
public enum Disposition {
    /// Whether a QP's certification of the batch stands and is bound to the record as it is now.
    public static func isCertified(site: String, batch: String, on connection: PostgresConnection) throws -> Bool {
        let r = try connection.execute("""
            SELECT record_hash FROM batch_signatures WHERE site = $1 AND batch = $2 AND meaning = 'approved for release'
            """, [site, batch])
        let hashes = Set((0..<r.rowCount).compactMap { r.string($0, 0) })
        guard !hashes.isEmpty, let current = try BatchRecordDigest.hash(site: site, batch: batch, on: connection) else { return false }
        return hashes.contains(current)
    }
}
