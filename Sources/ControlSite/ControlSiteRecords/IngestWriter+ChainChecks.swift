import POCareContract

/// What the database checks of records as they arrive: a second copy must equal the stored one,
/// and each record must name its predecessor's hash.
extension IngestWriter {
    /// Staged copies that were not inserted and differ from what is stored: integrity alarms.
    func recordConflicts(_ kind: RecordKind) throws -> Int {
        let table = Self.table(kind)
        let staged = Self.staged(kind)
        let result = try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            SELECT 'conflicting_duplicate', s.site, s.epoch, s.stream, s.seq, s.seq,
                   'a second copy of record ' || s.seq || ' differs from the stored one: ' || left(\(staged.text), 400)
            FROM \(staged.table) st
            JOIN \(table) s ON s.site = st.site AND s.epoch = st.epoch AND s.stream = st.stream AND s.seq = \(staged.seq)
            WHERE \(staged.filter) AND \(Self.differs(kind))
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now()
            RETURNING site, stream, seq_from
            """, [kind.rawValue])
        if result.rowCount > 0 { try keepDisputedVersions(kind) }
        for row in result.map({ $0 }) {
            logger.error("a duplicate differs from the stored record", metadata: [
                "site": "\(row.string("site") ?? "")", "stream": "\(row.string("stream") ?? "")", "seq": "\(row.string("seq_from") ?? "")",
            ])
        }
        return result.rowCount
    }

    /// Where records carry `hash` and `previous_hash`, each must name its predecessor's hash. A
    /// null on either end (a record from before the chain, a predecessor the site pruned) is not
    /// checked, as the contract says.
    func verifyChain(_ kind: RecordKind) throws {
        let table = Self.table(kind)
        let staged = Self.staged(kind)
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            SELECT 'chain_break', r.site, r.epoch, r.stream, p.seq, r.seq,
                   'record ' || r.seq || ' names previous hash ' || coalesce(r.previous_hash, 'none')
                   || ' but record ' || p.seq || ' has hash ' || coalesce(p.hash, 'none')
            FROM \(table) r
            JOIN \(table) p ON p.site = r.site AND p.epoch = r.epoch AND p.stream = r.stream AND p.seq = r.seq - 1
            WHERE r.previous_hash IS NOT NULL AND p.hash IS NOT NULL
              AND r.previous_hash <> p.hash
              AND EXISTS (SELECT 1 FROM \(staged.table) st
                          WHERE \(staged.filter) AND st.site = r.site AND st.epoch = r.epoch AND st.stream = r.stream
                            AND \(staged.seq) IN (r.seq, p.seq))
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
            """, [kind.rawValue])
    }

}
