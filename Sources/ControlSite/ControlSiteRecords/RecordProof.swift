import POCareContract

/// The hash of every record recomputed before it is stored (docs/control-site.md, "Records the
/// Control Site can prove"): a record whose content does not hash to the hash it carries was
/// changed after the site committed it, so it is set aside with a `hash_mismatch` finding and
/// never stored beside the site's records; its number stays missing, so the gap it leaves is
/// asked for again from the site. A record whose hash cannot be recomputed (a site that predates
/// `time_ns`) is stored, and counted as `hash_not_recomputable` for its stream.
struct RecordProof {
    struct SetAside {
        var site: String
        var epoch: String
        var stream: String
        var seq: Int64
        var record: ArraySlice<UInt8>
        var computed: String
        var claimed: String
    }

    /// The records to store, in consecutive runs (a set-aside record splits its message).
    var kept: [RecordMessage] = []
    var setAside: [SetAside] = []
    /// Per stream, how many records could not be recomputed, and the first reason.
    var notRecomputable: [StreamKey: (count: Int, reason: String)] = [:]
    /// One buffer for every record's canonical form, not one made and freed for each.
    private var hasher = RecordChain.Hasher()

    init(_ messages: [RecordMessage]) {
        for message in messages { prove(message) }
    }

    private mutating func prove(_ message: RecordMessage) {
        let key = StreamKey(site: message.site, epoch: message.epoch, stream: message.stream)
        var message = message
        var rejected: Set<Int> = []
        for index in message.records.indices.map({ $0 - message.records.startIndex }) {
            let verdict = verdict(message, index)
            switch verdict {
            case .verified: break
            case .mismatch(let computed, let claimed):
                rejected.insert(index)
                setAside.append(SetAside(
                    site: message.site, epoch: message.epoch, stream: message.stream, seq: message.seqFirst + Int64(index),
                    record: message.records[message.records.startIndex + index], computed: computed, claimed: claimed))
            case .unchained:
                if message.kind == .sample { message.samples[index].timeNanoseconds = nil }
            case .notRecomputable(let reason):
                notRecomputable[key, default: (0, reason)].count += 1
                // Stored without what would make it look recomputed.
                if message.kind == .sample { message.samples[index].timeNanoseconds = nil }
            }
        }
        guard !rejected.isEmpty else { return kept.append(message) }
        var run: [Int] = []
        for index in 0..<message.records.count {
            if rejected.contains(index) {
                flush(&run, of: message)
            } else {
                run.append(index)
            }
        }
        flush(&run, of: message)
    }

    private mutating func verdict(_ message: RecordMessage, _ index: Int) -> WireRecordHash.Verdict {
        switch message.kind {
        case .sample:
            return WireRecordHash.sample(stream: message.stream, device: message.device ?? "", sample: message.samples[index], using: &hasher)
        case .event, .audit:
            let fields: JSONFields
            do { fields = try JSONFields(message.records[message.records.startIndex + index]) } catch {
                return .notRecomputable("\(error)")
            }
            return message.kind == .event ? WireRecordHash.event(fields) : WireRecordHash.audit(fields)
        }
    }

    /// Appends the records of `run` (consecutive indices of `message`) as a message of their own.
    private mutating func flush(_ run: inout [Int], of message: RecordMessage) {
        guard let first = run.first, let last = run.last else { return }
        var part = message
        part.seqFirst = message.seqFirst + Int64(first)
        part.seqLast = message.seqFirst + Int64(last)
        let start = message.records.startIndex
        part.records = Array(message.records[(start + first)...(start + last)])
        if message.kind == .sample { part.samples = Array(message.samples[first...last]) }
        kept.append(part)
        run.removeAll()
    }
}

extension IngestWriter {
    /// Keeps set-aside records as they arrived and names each in a finding; counts the records
    /// whose hash could not be recomputed, once per stream.
    func record(_ proof: RecordProof) throws {
        for item in proof.setAside {
            logger.error("a record does not hash to the hash it carries; set aside", metadata: [
                "site": "\(item.site)", "stream": "\(item.stream)", "seq": "\(item.seq)",
            ])
            let detail = "record \(item.seq) does not hash to the hash it carries (computed \(item.computed.prefix(16)), "
                + "carried \(item.claimed.prefix(16))): changed after the site committed it; set aside, asked for again"
            try connection.execute("""
                INSERT INTO records_set_aside (reason, site, epoch, stream, seq, record, detail)
                VALUES ('hash_mismatch', $1, $2, $3, $4, $5, $6)
                """, [item.site, item.epoch, item.stream, String(item.seq),
                      String(decoding: item.record.prefix(65_536), as: UTF8.self), detail])
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                VALUES ('hash_mismatch', $1, $2, $3, $4, $4, $5)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                    occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail
                """, [item.site, item.epoch, item.stream, String(item.seq), detail])
        }
        for (key, entry) in proof.notRecomputable.sorted(by: { $0.key < $1.key }) {
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, detail, occurrences)
                VALUES ('hash_not_recomputable', $1, $2, $3, $4, $5)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                    occurrences = integrity_findings.occurrences + excluded.occurrences, last_seen = now()
                """, [key.site, key.epoch, key.stream,
                      "records whose hash cannot be recomputed (\(entry.reason)): their continuity is checked, their content is not",
                      String(entry.count)])
        }
    }
}
