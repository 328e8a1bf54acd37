import POCareContract

/// Metadata that would change the units, names or enumeration labels of a device while a batch
/// runs on it is held (`held_metadata`, an open `quarantined` finding) and not applied, so pages
/// keep the units the batch's records were taken in, until a status the site signed names the
/// new metadata's fingerprint as the device's `meta` (docs/control-site.md, "Quarantined input").
/// Held is keyed by the fingerprint the bytes hash to, so metadata claiming another's
/// fingerprint is never applied by a status naming that other. A site registered with keys has only signed statuses taken (`IngestWriter.admit`); for a site
/// without keys the status is as good as the broker's access control.
extension IngestWriter {
    /// Whether `m` is held rather than applied.
    func holdsMetadataChange(_ m: DeviceMetadataMessage) throws -> Bool {
        // What the bytes hash to: a status naming it names exactly these bytes, whatever they claim.
        guard let payload = m.payload, let fingerprint = m.computed ?? m.fingerprint else { return false }
        let found = try connection.execute("""
            SELECT sd.batch, string_agg(n->>'id' || ':' || concat_ws(',',
                       CASE WHEN o->'unit' IS DISTINCT FROM n->'unit' THEN ' unit ' || coalesce(o->>'unit', '-') || ' to ' || coalesce(n->>'unit', '-') END,
                       CASE WHEN o->'name' IS DISTINCT FROM n->'name' THEN ' name ' || coalesce(o->>'name', '-') || ' to ' || coalesce(n->>'name', '-') END,
                       CASE WHEN o->'enumeration' IS DISTINCT FROM n->'enumeration' THEN ' labels ' || coalesce(o->>'enumeration', '-') || ' to ' || coalesce(n->>'enumeration', '-') END),
                   '; ' ORDER BY n->>'id') AS changes
            FROM device_metadata d
            JOIN site_devices sd ON sd.site = d.site AND sd.device = d.device AND sd.batch IS NOT NULL
            CROSS JOIN jsonb_array_elements(CASE WHEN jsonb_typeof(d.metadata->'parameters') = 'array' THEN d.metadata->'parameters' ELSE '[]' END) o
            JOIN jsonb_array_elements(CASE WHEN jsonb_typeof($3::jsonb->'parameters') = 'array' THEN $3::jsonb->'parameters' ELSE '[]' END) n
                ON n->>'id' = o->>'id'
            WHERE d.site = $1 AND d.device = $2 AND d.fingerprint IS DISTINCT FROM $4
              AND (o->'unit', o->'name', o->'enumeration') IS DISTINCT FROM (n->'unit', n->'name', n->'enumeration')
              AND NOT EXISTS (
                  SELECT 1 FROM sites s
                  CROSS JOIN jsonb_array_elements(CASE WHEN jsonb_typeof(s.status->'devices') = 'array' THEN s.status->'devices' ELSE '[]' END) named
                  WHERE s.site = $1 AND named->>'id' = $2 AND named->>'meta' = $4)
            GROUP BY sd.batch
            """, [m.site, m.device, String(decoding: payload, as: UTF8.self), fingerprint])
        guard found.rowCount == 1, let batch = found.string(0, "batch"), let changes = found.string(0, "changes") else { return false }
        try connection.execute("""
            INSERT INTO held_metadata (site, device, fingerprint, metadata, changes) VALUES ($1, $2, $3, $4::jsonb, $5)
            ON CONFLICT (site, device, fingerprint) DO UPDATE SET received = now()
            """, [m.site, m.device, fingerprint, String(decoding: payload, as: UTF8.self), changes])
        let detail = "metadata \(fingerprint) for \(m.device) would change \(changes) while batch \(batch) runs: held, not applied, "
            + "until a status the site signed names it"
        try openQuarantineFinding(site: m.site, epoch: "", stream: "\(m.device)/meta", range: nil, detail: detail)
        logger.warning("held metadata that would change a running device", metadata: [
            "site": "\(m.site)", "device": "\(m.device)", "fingerprint": "\(fingerprint)", "changes": "\(changes)",
        ])
        return true
    }

    /// Applies held metadata whose fingerprint `status` names for its device.
    func applyConfirmedMetadata(_ status: SiteStatusMessage) throws {
        guard status.state == "online" else { return }
        let applied = try connection.execute("""
            WITH named AS (
                SELECT d->>'id' AS device, d->>'meta' AS meta FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof($2::jsonb->'devices') = 'array' THEN $2::jsonb->'devices' ELSE '[]' END) d),
            confirmed AS (
                UPDATE held_metadata h SET confirmed = now() FROM named
                WHERE h.site = $1 AND h.confirmed IS NULL AND h.device = named.device AND h.fingerprint = named.meta
                RETURNING h.site, h.device, h.fingerprint, h.metadata)
            INSERT INTO device_metadata (site, device, fingerprint, verified, metadata, received)
            SELECT site, device, fingerprint, true, metadata, now() FROM confirmed
            ON CONFLICT (site, device) DO UPDATE SET fingerprint = excluded.fingerprint, verified = true,
                metadata = excluded.metadata, received = now()
            RETURNING device
            """, [status.site, String(decoding: status.payload, as: UTF8.self)])
        for row in 0..<applied.rowCount {
            guard let device = applied.string(row, "device") else { continue }
            try connection.execute("""
                UPDATE integrity_findings SET resolved = now(), detail = detail || '; since named by a status the site signed: applied'
                WHERE kind = 'quarantined' AND site = $1 AND stream = $2 AND resolved IS NULL
                """, [status.site, "\(device)/meta"])
            logger.info("applied metadata a signed status confirms", metadata: ["site": "\(status.site)", "device": "\(device)"])
        }
    }
}
