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
    /// checked, as the contract says. The links checked are those a staged record takes part in:
    /// its own to its predecessor, and its successor's to it (a gap filled late), each looked up
    /// from the staged rows (`linkCheck`), so the cost does not grow with everything stored.
    func verifyChain(_ kind: RecordKind) throws {
        let table = Self.table(kind)
        let staged = Self.staged(kind)
        try connection.execute(Self.linkCheck(table: table, links: """
            SELECT DISTINCT st.site, st.epoch, st.stream, \(staged.seq) + o.next AS seq
            FROM \(staged.table) st CROSS JOIN (VALUES (0), (1)) AS o(next)
            WHERE \(staged.filter)
            """), [kind.rawValue])
    }

    /// Records a chain break for each link into a record of `links` (rows of site, epoch,
    /// stream, seq: the link from seq - 1 to seq) whose stored ends do not match. Each end is found
    /// through the primary key: `LIMIT 1` keeps the planner from turning the lookups into a join
    /// over the whole table.
    static func linkCheck(table: String, links: String) -> String {
        """
        INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
        SELECT 'chain_break', k.site, k.epoch, k.stream, k.seq - 1, k.seq,
               'record ' || k.seq || ' names previous hash ' || coalesce(r.previous_hash, 'none')
               || ' but record ' || (k.seq - 1) || ' has hash ' || coalesce(p.hash, 'none')
        FROM (\(links)) k
        CROSS JOIN LATERAL (SELECT s.previous_hash FROM \(table) s
                            WHERE s.site = k.site AND s.epoch = k.epoch AND s.stream = k.stream AND s.seq = k.seq
                            LIMIT 1) r
        CROSS JOIN LATERAL (SELECT s.hash FROM \(table) s
                            WHERE s.site = k.site AND s.epoch = k.epoch AND s.stream = k.stream AND s.seq = k.seq - 1
                            LIMIT 1) p
        WHERE r.previous_hash IS NOT NULL AND p.hash IS NOT NULL AND r.previous_hash <> p.hash
        ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
        """
    }
}

extension IngestWriter {
    /// The chain links of telemetry when every staged sample was inserted by this transaction,
    /// so what is stored is what was staged: links between two samples of the batch are checked
    /// here in memory, and only the links at the ends of each run of numbers (to a predecessor
    /// or successor stored before) in the table. The same findings as `verifyChain(.sample)`,
    /// without two index lookups for every sample.
    func verifySampleChain(_ records: [RecordMessage]) throws {
        // Each sample by its number and where it lies (message, sample), not with copies of its
        // hashes: those are read where two samples meet, and the list is sorted only when the
        // messages came out of order.
        var byStream: [StreamKey: [(seq: Int64, message: Int, sample: Int)]] = [:]
        for (m, message) in records.enumerated() where message.kind == .sample {
            // The stream's list is taken out for the message, so its key is hashed once a message, not once a sample.
            let key = message.streamKey
            var links = byStream.removeValue(forKey: key) ?? []
            links.reserveCapacity(links.count + message.samples.count)
            for (s, sample) in message.samples.enumerated() { links.append((sample.seq, m, s)) }
            byStream[key] = links
        }
        for (key, unsorted) in byStream {
            let inOrder = zip(unsorted, unsorted.dropFirst()).allSatisfy { $0.seq <= $1.seq }
            let links = inOrder ? unsorted : unsorted.sorted { $0.seq < $1.seq }
            var edges: [Int64] = []
            for (i, record) in links.enumerated() {
                if i > 0, links[i - 1].seq == record.seq - 1 {
                    let predecessor = links[i - 1]
                    if let named = records[record.message].samples[record.sample].previousHash,
                       let hash = records[predecessor.message].samples[predecessor.sample].hash, named != hash {
                        try recordChainBreak(key, seq: record.seq, named: named, found: hash)
                    }
                } else {
                    edges.append(record.seq)
                }
                if i == links.count - 1 || links[i + 1].seq != record.seq + 1 { edges.append(record.seq + 1) }
            }
            try verifyStoredLinks(key, at: edges)
        }
    }

    private func recordChainBreak(_ key: StreamKey, seq: Int64, named: String, found: String) throws {
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            VALUES ('chain_break', $1, $2, $3, $4::bigint - 1, $4::bigint, $5)
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
            """, [key.site, key.epoch, key.stream, String(seq),
                  "record \(seq) names previous hash \(named) but record \(seq - 1) has hash \(found)"])
    }

    /// The links into the samples numbered `seqs` of one stream, as stored.
    private func verifyStoredLinks(_ key: StreamKey, at seqs: [Int64]) throws {
        guard !seqs.isEmpty else { return }
        try connection.execute(Self.linkCheck(table: "samples", links: """
            SELECT $1::text AS site, $2::text AS epoch, $3::text AS stream, unnest($4::bigint[]) AS seq
            """), [key.site, key.epoch, key.stream, "{" + seqs.map(String.init).joined(separator: ",") + "}"])
    }
}
