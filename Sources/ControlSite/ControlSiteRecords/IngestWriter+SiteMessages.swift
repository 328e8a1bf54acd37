import POCareContract

/// What sites say of themselves rather than records: statuses, device metadata, spec documents.
extension IngestWriter {
    /// Writes the status; returns the devices an online birth names.
    func writeStatus(_ status: SiteStatusMessage) throws -> [String] {
        let payload = String(decoding: status.payload, as: UTF8.self)
        try connection.execute("""
            INSERT INTO sites (site, state, version, status, status_time, status_received)
            VALUES ($1, $2, $3, $4::jsonb, $5::timestamptz, now())
            ON CONFLICT (site) DO UPDATE SET state = excluded.state,
                version = coalesce(excluded.version, sites.version),
                status = CASE WHEN excluded.state = 'online' THEN excluded.status ELSE sites.status END,
                status_time = coalesce(excluded.status_time, sites.status_time),
                status_received = now()
            """, [status.site, status.state, status.version, payload, status.time])
        guard status.state == "online" else { return [] }
        let named = try connection.execute("""
            INSERT INTO site_devices (site, device, profile, batch, phase, spec, reachable, updated)
            SELECT $1, d.id, d.profile, d.batch, d.phase, d.spec, d.reachable, now()
            FROM jsonb_to_recordset(coalesce($2::jsonb->'devices', '[]'))
                 AS d(id text, profile text, batch text, phase text, spec text, reachable boolean)
            WHERE d.id IS NOT NULL
            ON CONFLICT (site, device) DO UPDATE SET profile = excluded.profile, batch = excluded.batch,
                phase = excluded.phase, spec = excluded.spec, reachable = excluded.reachable, updated = now()
            RETURNING device
            """, [status.site, payload])
        return named.map { $0.string("device") }.compactMap { $0 }
    }

    /// Keeps the device's metadata as published; one whose bytes do not hash to the fingerprint
    /// it names is kept too (what the site sent is evidence) and is an integrity finding.
    func writeMetadata(_ m: DeviceMetadataMessage) throws {
        // The site's row lock, which a writer holding records aside waits for (`IngestAdmission`).
        try connection.execute("INSERT INTO sites (site) VALUES ($1) ON CONFLICT (site) DO NOTHING", [m.site])
        try connection.execute("SELECT 1 FROM sites WHERE site = $1 FOR UPDATE", [m.site])
        try connection.execute("""
            INSERT INTO device_metadata (site, device, fingerprint, verified, metadata, received)
            VALUES ($1, $2, $3, $4::boolean, $5::jsonb, now())
            ON CONFLICT (site, device) DO UPDATE SET fingerprint = excluded.fingerprint, verified = excluded.verified,
                metadata = excluded.metadata, received = now()
            """, [m.site, m.device, m.fingerprint, m.payload == nil || m.verified ? "true" : "false",
                  m.payload.map { String(decoding: $0, as: UTF8.self) }])
        if m.payload != nil && !m.verified {
            try recordFinding("metadata_mismatch", site: m.site, stream: "\(m.device)/meta",
                              detail: "metadata names \(m.fingerprint ?? "-") but its bytes hash to \(m.computed ?? "-")")
        }
    }

    /// Keeps a published spec; a canonical form that does not hash to the fingerprint it is
    /// published under is kept and shown by `conformance`.
    func writeSpecDocument(_ spec: SpecDocumentMessage) throws {
        try connection.execute("""
            INSERT INTO published_specs (site, fingerprint, computed, verified, document, received)
            VALUES ($1, $2, $3, $4::boolean, $5::jsonb, now())
            ON CONFLICT (site, fingerprint) DO UPDATE SET computed = excluded.computed, verified = excluded.verified,
                document = excluded.document, received = now()
            """, [spec.site, spec.fingerprint, spec.computed, spec.verified ? "true" : "false",
                  String(decoding: spec.payload, as: UTF8.self)])
    }

    func recordFinding(_ kind: String, site: String, stream: String, detail: String) throws {
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, stream, detail) VALUES ($1, $2, $3, $4)
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail
            """, [kind, site, stream, detail])
    }
}
