/// What a batch was for, from the site's qualification when it started (the POC Master
/// File's history): `production` at a qualified site, `verification` (reference site) or
/// `comparability` (additional site) while the site was not qualified, `suspended site` when
/// it started at a suspended site; NULL for a site not in the Master File.
public enum BatchPurpose {
    /// A scalar SQL expression for the batch of `site` (a column or parameter) that started at `time`.
    public static func sql(site: String, time: String) -> String {
        """
        (SELECT CASE WHEN q.state = 'qualified' THEN 'production'
                     WHEN q.state = 'suspended' THEN 'suspended site'
                     WHEN ms.role = 'reference' THEN 'verification'
                     ELSE 'comparability' END
         FROM master_sites ms
         LEFT JOIN LATERAL (SELECT h.state FROM qualification_history h WHERE h.site = ms.site AND h.since <= \(time)
                            ORDER BY h.since DESC, h.id DESC LIMIT 1) q ON true
         WHERE ms.site = \(site))
        """
    }
}
