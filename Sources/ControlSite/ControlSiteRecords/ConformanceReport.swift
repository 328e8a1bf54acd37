/// `pocare-control conformance`: every batch, site and device that ran, or runs now, a spec
/// that QA has not released (or ran it after QA retired it, or started it before the release,
/// as a site's own record of the start says), and every spec a site published
/// whose canonical form does not hash to the fingerprint it is published under (with each
/// batch that ran under that fingerprint there); at sites in the POC Master File also equipment
/// not registered there (or whose profile differs from the registered one) and batches started
/// while the site was suspended.
public struct Nonconformance: Sendable, Codable, Equatable {
    public var site: String
    public var device: String
    public var batch: String?
    /// The fingerprint in force; nil when the records named none.
    public var spec: String?
    /// `ran` (from stored samples), `runs` (from the site's retained status now), `published`
    /// (a spec document the site published; `device` is empty) or `reports` (equipment the site
    /// reports now).
    public var when: String
    public var first: String?
    public var last: String?
    public var reason: String
    /// `spec`, `published_spec`, `equipment` or `site`.
    public var category: String
    /// Names this nonconformance for as long as it holds (what a deviation links to).
    public var key: String

    public static func load(_ connection: PostgresConnection) throws -> [Nonconformance] {
        // One query: every kind from the same snapshot, in one order. The first kind names the columns.
        let result = try connection.execute("""
            \(facts)
            \([specRan, specRuns, publishedSpec, publishedRan, equipmentReports, equipmentRan, suspendedSite, specNotReleased]
                .joined(separator: "\nUNION ALL\n"))
            ORDER BY 1, 2, 3, 5
            """)
        return (0..<result.rowCount).map { r in
            Nonconformance(site: result.string(r, "site") ?? "", device: result.string(r, "device") ?? "", batch: result.string(r, "batch"),
                           spec: result.string(r, "spec"), when: result.string(r, "when") ?? "", first: result.string(r, "first"),
                           last: result.string(r, "last"), reason: result.string(r, "reason") ?? "", category: result.string(r, "category") ?? "",
                           key: result.string(r, "key") ?? "")
        }
    }

    /// What ran (per spec and per device) and what each device reports of itself.
    static let facts = """
            WITH ran AS (
                SELECT site, device, batch, spec, min(first_time) AS first, max(last_time) AS last
                FROM batch_runs GROUP BY site, device, batch, spec),
            ran_device AS (
                SELECT site, device, batch, min(first_time) AS first, max(last_time) AS last
                FROM batch_runs GROUP BY site, device, batch),
            reported AS (
                SELECT coalesce(s.site, m.site) AS site, coalesce(s.device, m.device) AS device,
                       coalesce(m.metadata->'profile'->>'id', s.profile) AS profile,
                       m.metadata->'profile'->>'fingerprint' AS fingerprint,
                       m.metadata->'reported'->>'serial_number' AS serial, coalesce(m.received, s.received) AS seen
                FROM (SELECT st.site, d->>'id' AS device, d->>'profile' AS profile, st.status_received AS received
                      FROM sites st
                      CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(st.status->'devices') = 'array'
                                                                   THEN st.status->'devices' ELSE '[]' END) d
                      WHERE jsonb_typeof(d) = 'object' AND d->>'id' IS NOT NULL) s
                FULL JOIN (SELECT * FROM device_metadata WHERE metadata IS NOT NULL) m ON m.site = s.site AND m.device = s.device)
        """

    /// A batch ran without a spec, under one never released, or after its spec was retired.
    static let specRan = """
            SELECT r.site, r.device, r.batch, nullif(r.spec, '') AS spec, 'ran' AS "when", \(SQLTime.iso("r.first")) AS first,
                   \(SQLTime.iso("r.last")) AS last,
                   CASE WHEN r.spec = '' THEN 'the batch ran without a spec'
                        WHEN rs.fingerprint IS NULL THEN 'the spec was never released'
                        ELSE 'ran until ' || \(SQLTime.iso("r.last")) || ', after the spec was retired on '
                             || \(SQLTime.iso("rs.retired")) END AS reason,
                   'spec' AS category, 'spec|' || r.site || '|' || r.device || '|' || r.batch || '|' || r.spec AS key
            FROM ran r LEFT JOIN released_specs rs ON rs.fingerprint = r.spec
            WHERE r.spec = '' OR rs.fingerprint IS NULL OR rs.retired < r.last
        """

    /// A device of an online site runs under a spec never released or retired.
    static let specRuns = """
            SELECT d.site, d.device, d.batch, d.spec, 'runs', NULL, \(SQLTime.iso("d.updated")),
                   CASE WHEN rs.fingerprint IS NULL THEN 'the spec in force was never released'
                        ELSE 'the spec in force was retired on ' || \(SQLTime.iso("rs.retired")) END,
                   'spec', 'spec-runs|' || d.site || '|' || d.device || '|' || d.spec
            FROM site_devices d JOIN sites s ON s.site = d.site AND s.state = 'online'
            LEFT JOIN released_specs rs ON rs.fingerprint = d.spec
            WHERE d.spec IS NOT NULL AND (rs.fingerprint IS NULL OR rs.retired IS NOT NULL)
        """

    /// A spec document a site published does not hash to its fingerprint.
    static let publishedSpec = """
            SELECT p.site, '', NULL, p.fingerprint, 'published', NULL, \(SQLTime.iso("p.received")),
                   'the spec document the site published under this fingerprint hashes to ' || p.computed,
                   'published_spec', 'published|' || p.site || '|' || p.fingerprint || '|' || p.computed
            FROM published_specs p WHERE NOT p.verified
        """

    /// A batch ran under such a fingerprint.
    static let publishedRan = """
            SELECT r.site, r.device, r.batch, r.spec, 'ran', \(SQLTime.iso("r.first")), \(SQLTime.iso("r.last")),
                   'ran under a fingerprint whose published document hashes to ' || p.computed,
                   'published_spec', 'published-ran|' || r.site || '|' || r.device || '|' || r.batch || '|' || p.computed
            FROM ran r JOIN published_specs p ON p.site = r.site AND p.fingerprint = r.spec AND NOT p.verified
        """

    /// A device a Master File site reports is not registered as it reports itself (profile, fingerprint, serial).
    static let equipmentReports = """
            SELECT d.site, d.device, NULL, NULL, 'reports', NULL, \(SQLTime.iso("d.seen")),
                   CASE WHEN e.id IS NULL THEN 'equipment not registered in the POC Master File (reports '
                                               || coalesce(d.profile, 'no profile') || coalesce(', profile ' || left(d.fingerprint, 19), '') || ')'
                        WHEN d.profile IS DISTINCT FROM e.profile THEN 'registered as ' || e.profile || ', reports ' || coalesce(d.profile, 'no profile')
                        WHEN d.fingerprint <> e.profile_fingerprint THEN 'reports profile ' || left(d.fingerprint, 19)
                                                                         || ', registered with ' || left(e.profile_fingerprint, 19)
                        ELSE 'reports serial number ' || d.serial || ', registered with ' || e.serial_number END,
                   'equipment', 'equipment|' || d.site || '|' || d.device || '|' || coalesce(d.profile, '') || '|' || coalesce(d.fingerprint, '')
                                || '|' || coalesce(d.serial, '')
            FROM reported d JOIN master_sites ms ON ms.site = d.site
            LEFT JOIN registered_equipment e ON e.site = d.site AND e.device = d.device AND e.retired IS NULL
            WHERE e.id IS NULL OR d.profile IS DISTINCT FROM e.profile OR d.fingerprint <> e.profile_fingerprint
               OR (d.serial IS NOT NULL AND e.serial_number IS NOT NULL AND d.serial <> e.serial_number)
        """

    /// A batch ran on equipment not registered when it started.
    static let equipmentRan = """
            SELECT r.site, r.device, r.batch, NULL, 'ran', \(SQLTime.iso("r.first")), \(SQLTime.iso("r.last")),
                   'ran on equipment not registered in the POC Master File (never registered, or retired before the batch started)',
                   'equipment', 'equipment-ran|' || r.site || '|' || r.device || '|' || r.batch
            FROM ran_device r JOIN master_sites ms ON ms.site = r.site
            WHERE NOT EXISTS (SELECT 1 FROM registered_equipment e WHERE e.site = r.site AND e.device = r.device
                              AND (e.retired IS NULL OR e.retired >= r.first))
        """

    /// A batch started while its site was suspended.
    static let suspendedSite = """
            SELECT r.site, r.device, r.batch, NULL, 'ran', \(SQLTime.iso("r.first")), \(SQLTime.iso("r.last")),
                   'started while the site was suspended (' || q.reason || ')',
                   'site', 'suspended|' || r.site || '|' || r.device || '|' || r.batch
            FROM ran_device r
            CROSS JOIN LATERAL (SELECT h.state, h.reason FROM qualification_history h WHERE h.site = r.site AND h.since <= r.first
                                ORDER BY h.since DESC, h.id DESC LIMIT 1) q
            WHERE q.state = 'suspended'
        """

    /// The site itself said the batch started under a spec not released.
    static let specNotReleased = """
            SELECT e.site, e.device, e.batch, e.spec, 'ran', \(SQLTime.iso("e.time")), NULL,
                   'the site started the batch under a spec that was not released: ' || coalesce(e.record->'event'->>'detail', ''),
                   'spec', 'spec-not-released|' || e.site || '|' || coalesce(e.device, '') || '|' || coalesce(e.batch, '')
            FROM events e WHERE e.kind = 'spec_release' AND e.record->'event'->>'release' = 'not released'
        """
}
