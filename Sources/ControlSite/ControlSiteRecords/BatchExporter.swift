import Foundation
import POCareContract

/// Builds a batch's export file (`BatchExport`) from the database: per chain segment the records
/// from its first through the signed head that covers it (or its last, when none does), every
/// checkpoint naming a head of those streams, the site's registered keys, the specs and the
/// review signatures.
public enum BatchExporter {
    public static func export(site: String, batch: String, keys: SiteKeyRegister, on connection: PostgresConnection) throws -> BatchExport {
        // An export proves itself offline, so it holds every record or is not written.
        let archived = try SampleArchive.archivedMonths(site: site, batch: batch, on: connection)
        guard archived.isEmpty else {
            throw SampleArchive.Refusal(description: "batch \(batch) at \(site) is not exported: part of its record is archived ("
                + archived.map { "\($0.month) in \($0.location)" }.joined(separator: ", ") + "); `pocare-control restore` brings it back first")
        }
        var segments: [BatchExport.Segment] = []
        var checkpoints: Set<String> = []
        for segment in try ChainCoverage.segments(site: site, batch: batch, on: connection) {
            let kind = segment.stream.hasSuffix("/telemetry") ? "sample" : "event"
            let through = segment.signedSeq ?? segment.last
            var records: [String] = []
            try StoredRecordProof.records(site: site, epoch: segment.epoch, stream: segment.stream, from: segment.first, through: through,
                                          on: connection) { _, text in records.append(text) }
            segments.append(BatchExport.Segment(
                epoch: segment.epoch, stream: segment.stream, kind: kind, device: String(segment.stream.split(separator: "/").first ?? ""),
                records: records))
            let signed = try connection.execute("""
                SELECT s.message FROM site_checkpoints s JOIN chain_checkpoints c ON c.checkpoint = s.id
                WHERE c.site = $1 AND c.epoch = $2 AND c.stream = $3 AND c.seq = $4
                """, [site, segment.epoch, segment.stream, String(through)])
            for row in signed.map({ $0 }) { if let text = row.string("message") { checkpoints.insert(text) } }
        }
        let specs = try connection.execute("""
            SELECT DISTINCT p.document::text AS document FROM published_specs p JOIN batch_runs b ON b.spec = p.fingerprint AND b.site = p.site
            WHERE b.site = $1 AND b.batch = $2
            """, [site, batch])
        let signatures = try connection.execute("""
            SELECT json_build_object('user', user_name, 'full_name', full_name, 'role', role, 'meaning', meaning, 'comment', comment,
                                     'signed', signed, 'record_hash', record_hash)::text AS signature
            FROM batch_signatures WHERE site = $1 AND batch = $2 ORDER BY signed
            """, [site, batch])
        let registered = (keys.sites?[site] ?? []).map {
            BatchExport.Key(key: $0.key.description, validFromNs: $0.validFrom, retiredFromNs: $0.retiredFrom)
        }
        return BatchExport(
            site: site, batch: batch, exported: ISO8601DateFormatter().string(from: Date()), keys: registered, segments: segments,
            checkpoints: checkpoints.sorted(), specs: specs.map { $0.string("document") }.compactMap { $0 },
            signatures: signatures.map { $0.string("signature") }.compactMap { $0 })
    }
}
