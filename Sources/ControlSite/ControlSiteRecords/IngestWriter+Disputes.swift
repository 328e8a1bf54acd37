import Foundation
import POCareContract

/// Two things a forger could bend, and how ingest holds them straight:
///
/// - **A record without a hash** on a stream whose records carry hashes is a chain break, from
///   the stream's lowest hashed number on (records below it come from a store before the chain,
///   whose chain starts after them). So a copy published ahead of the real record with
///   `hash: null` is a finding the moment either arrives.
/// - **Differing copies** of one record are both kept (`record_versions`), and the record is
///   disputed (`record_disputes`) until QA says which is the record; the batches either copy
///   names cannot be signed meanwhile (`RecordDisputes`).
extension IngestWriter {
    /// The column or field that holds a staged record's hash.
    static func stagedHash(_ kind: RecordKind) -> String {
        switch kind {
        case .sample: "st.hash"
        case .event, .audit: "st.record->>'hash'"
        }
    }

    func checkMissingHashes(_ keys: [StreamKey], kinds: Set<RecordKind>) throws {
        for kind in kinds.sorted(by: { $0.rawValue < $1.rawValue }) {
            let table = Self.table(kind), staged = Self.staged(kind), hash = Self.stagedHash(kind)
            // The lowest hashed number of each stream, lowered by what was staged now.
            let changed = try connection.execute("""
                WITH lowest AS (
                    SELECT st.site, st.epoch, st.stream, min(\(staged.seq)) AS seq FROM \(staged.table) st
                    WHERE \(staged.filter) AND \(hash) IS NOT NULL GROUP BY 1, 2, 3)
                UPDATE streams t SET first_hashed = lowest.seq
                FROM lowest
                WHERE t.site = lowest.site AND t.epoch = lowest.epoch AND t.stream = lowest.stream
                  AND (t.first_hashed IS NULL OR lowest.seq < t.first_hashed)
                RETURNING t.site, t.epoch, t.stream, t.first_hashed
                """, [kind.rawValue])
            // Records without a hash above it: those staged now, and, where it was lowered, those stored before.
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                SELECT 'chain_break', st.site, st.epoch, st.stream, \(staged.seq), \(staged.seq),
                       'record ' || \(staged.seq) || ' carries no hash on a stream whose records carry hashes (from record '
                       || t.first_hashed || ' on)'
                FROM \(staged.table) st
                JOIN streams t ON t.site = st.site AND t.epoch = st.epoch AND t.stream = st.stream
                WHERE \(staged.filter) AND \(hash) IS NULL AND t.first_hashed IS NOT NULL AND \(staged.seq) > t.first_hashed
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
                """, [kind.rawValue])
            for row in changed.map({ $0 }) {
                // RETURNING of NOT NULL key columns and the value just set.
                guard let site = row.string("site"), let epoch = row.string("epoch"), let stream = row.string("stream"),
                      let first = row.int("first_hashed") else { continue }
                try findUnhashedStored(StreamKey(site: site, epoch: epoch, stream: stream), above: first, table: table)
            }
        }
    }

    /// Lowers a stream's first hashed number to `seq` where that is lower; what is stored above
    /// it without a hash is then a chain break.
    func lowerFirstHashed(_ key: StreamKey, to seq: Int64, kind: RecordKind) throws {
        let changed = try connection.execute("""
            UPDATE streams SET first_hashed = $4::bigint
            WHERE site = $1 AND epoch = $2 AND stream = $3 AND (first_hashed IS NULL OR $4::bigint < first_hashed)
            RETURNING first_hashed
            """, [key.site, key.epoch, key.stream, String(seq)])
        guard changed.rowCount > 0 else { return }
        try findUnhashedStored(key, above: seq, table: Self.table(kind))
    }

    private func findUnhashedStored(_ key: StreamKey, above first: Int64, table: String) throws {
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            SELECT 'chain_break', s.site, s.epoch, s.stream, s.seq, s.seq,
                   'record ' || s.seq || ' carries no hash on a stream whose records carry hashes (from record ' || $4 || ' on)'
            FROM \(table) s
            WHERE s.site = $1 AND s.epoch = $2 AND s.stream = $3 AND s.seq > $4::bigint AND s.hash IS NULL
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
            """, [key.site, key.epoch, key.stream, String(first)])
    }

    /// A stored record and the staged copy that differs from it, as kept versions.
    static func versionContent(_ kind: RecordKind, of alias: String) -> String {
        switch kind {
        case .sample:
            """
            jsonb_build_object('time', \(alias).time, 'cycle', \(alias).cycle, 'batch', \(alias).batch, 'phase', \(alias).phase,
                               'spec', \(alias).spec, 'values', \(alias)."values"::text, 'quality', \(alias).quality::text,
                               'hash', \(alias).hash, 'previous_hash', \(alias).previous_hash)
            """
        case .event, .audit: "\(alias).record"
        }
    }

    static func batchOf(_ kind: RecordKind, _ alias: String) -> String {
        switch kind {
        case .sample: "\(alias).batch"
        case .event: alias == "s" ? "s.batch" : "\(alias).record->>'batch'"
        case .audit: "NULL::text"
        }
    }

    /// Keeps both versions of every record whose staged copy differs from the stored one, and
    /// opens (or reopens) its dispute with the batches either version names.
    func keepDisputedVersions(_ kind: RecordKind) throws {
        let table = Self.table(kind), staged = Self.staged(kind)
        let join = """
            FROM \(staged.table) st
            JOIN \(table) s ON s.site = st.site AND s.epoch = st.epoch AND s.stream = st.stream AND s.seq = \(staged.seq)
            WHERE \(staged.filter) AND \(Self.differs(kind))
            """
        for (alias, hash) in [("s", "s.hash"), ("st", Self.stagedHash(kind))] {
            let content = Self.versionContent(kind, of: alias)
            try connection.execute("""
                INSERT INTO record_versions (site, epoch, stream, seq, kind, digest, content, hash)
                SELECT s.site, s.epoch, s.stream, s.seq, $1, md5((\(content))::text), \(content), \(hash)
                \(join)
                ON CONFLICT DO NOTHING
                """, [kind.rawValue])
        }
        let batches = "array_remove(ARRAY[\(Self.batchOf(kind, "s")), \(Self.batchOf(kind, "st"))], NULL)"
        try connection.execute("""
            INSERT INTO record_disputes (site, epoch, stream, seq, kind, batches)
            SELECT s.site, s.epoch, s.stream, s.seq, $1, \(batches)
            \(join)
            ON CONFLICT (site, epoch, stream, seq) DO NOTHING
            """, [kind.rawValue])
        // A dispute already there names every batch of every copy; one that QA resolved opens
        // again only for a version it had not seen (the same copy sent again changes nothing).
        try connection.execute("""
            UPDATE record_disputes d SET batches = ARRAY(SELECT DISTINCT b FROM unnest(d.batches || x.batches) b)
            FROM (SELECT s.site, s.epoch, s.stream, s.seq, \(batches) AS batches \(join)) x
            WHERE d.site = x.site AND d.epoch = x.epoch AND d.stream = x.stream AND d.seq = x.seq
            """, [kind.rawValue])
        try connection.execute("""
            UPDATE record_disputes d SET resolved = NULL, resolved_by = NULL, kept = NULL, reason = NULL
            FROM (SELECT s.site, s.epoch, s.stream, s.seq, md5((\(Self.versionContent(kind, of: "st")))::text) AS digest
                  \(join)) x
            WHERE d.site = x.site AND d.epoch = x.epoch AND d.stream = x.stream AND d.seq = x.seq AND d.resolved IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM record_versions v
                              WHERE v.site = x.site AND v.epoch = x.epoch AND v.stream = x.stream AND v.seq = x.seq
                                AND v.digest = x.digest AND v.received <= d.resolved)
            """, [kind.rawValue])
    }
}
