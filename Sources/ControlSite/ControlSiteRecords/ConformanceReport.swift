/// `pocare-control conformance`: every batch, site and device that ran, or runs now, a spec
/// that QA has not released (or ran it after QA retired it, or started it before the release,
/// as a site's own record of the start says), and every spec a site published
/// whose canonical form does not hash to the fingerprint it is published under (with each
/// batch that ran under that fingerprint there).
public struct Nonconformance: Sendable, Codable, Equatable {
    public var site: String
    public var device: String
    public var batch: String?
    /// The fingerprint in force; nil when the records named none.
    public var spec: String?
    /// `ran` (from stored samples), `runs` (from the site's retained status now) or `published`
    /// (a spec document the site published; `device` is empty).
    public var when: String
    public var first: String?
    public var last: String?
    public var reason: String

    public static func load(_ connection: PostgresConnection) throws -> [Nonconformance] {
        let result = try connection.execute("""
            WITH ran AS (
                SELECT site, device, batch, spec, min(first_time) AS first, max(last_time) AS last
                FROM batch_runs GROUP BY site, device, batch, spec)
            SELECT r.site, r.device, r.batch, nullif(r.spec, ''), 'ran', \(SQLTime.iso("r.first")), \(SQLTime.iso("r.last")),
                   CASE WHEN r.spec = '' THEN 'the batch ran without a spec'
                        WHEN rs.fingerprint IS NULL THEN 'the spec was never released'
                        ELSE 'ran until ' || \(SQLTime.iso("r.last")) || ', after the spec was retired on '
                             || \(SQLTime.iso("rs.retired")) END
            FROM ran r LEFT JOIN released_specs rs ON rs.fingerprint = r.spec
            WHERE r.spec = '' OR rs.fingerprint IS NULL OR rs.retired < r.last
            UNION ALL
            SELECT d.site, d.device, d.batch, d.spec, 'runs', NULL, \(SQLTime.iso("d.updated")),
                   CASE WHEN rs.fingerprint IS NULL THEN 'the spec in force was never released'
                        ELSE 'the spec in force was retired on ' || \(SQLTime.iso("rs.retired")) END
            FROM site_devices d JOIN sites s ON s.site = d.site AND s.state = 'online'
            LEFT JOIN released_specs rs ON rs.fingerprint = d.spec
            WHERE d.spec IS NOT NULL AND (rs.fingerprint IS NULL OR rs.retired IS NOT NULL)
            UNION ALL
            SELECT p.site, '', NULL, p.fingerprint, 'published', NULL, \(SQLTime.iso("p.received")),
                   'the spec document the site published under this fingerprint hashes to ' || p.computed
            FROM published_specs p WHERE NOT p.verified
            UNION ALL
            SELECT r.site, r.device, r.batch, r.spec, 'ran', \(SQLTime.iso("r.first")), \(SQLTime.iso("r.last")),
                   'ran under a fingerprint whose published document hashes to ' || p.computed
            FROM ran r JOIN published_specs p ON p.site = r.site AND p.fingerprint = r.spec AND NOT p.verified
            UNION ALL
            SELECT e.site, e.device, e.batch, e.spec, 'ran', \(SQLTime.iso("e.time")), NULL,
                   'the site started the batch under a spec that was not released: ' || coalesce(e.record->'event'->>'detail', '')
            FROM events e WHERE e.kind = 'spec_release' AND e.record->'event'->>'release' = 'not released'
            ORDER BY 1, 2, 3, 5
            """)
        return (0..<result.rowCount).map { r in
            Nonconformance(site: result.string(r, 0)!, device: result.string(r, 1)!, batch: result.string(r, 2),
                           spec: result.string(r, 3), when: result.string(r, 4)!, first: result.string(r, 5),
                           last: result.string(r, 6), reason: result.string(r, 7)!)
        }
    }
}
