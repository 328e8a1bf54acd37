import POCareContract

/// Input that is well-formed but implausible is quarantined, not trusted (docs/control-site.md,
/// "Quarantined input"): its records are kept as sent in `records_set_aside` under the rule's
/// reason, and an open `quarantined` finding names the facts QA needs, so nothing of it becomes
/// a stream's record, opens a gap or changes a page.
extension IngestWriter {
    func quarantine(_ message: RecordMessage, reason: String, detail: String) throws {
        try setAside(reason, site: message.site, epoch: message.epoch, stream: message.stream, seq: message.seqFirst,
                     record: Array(message.records.prefix(100).joined(separator: Array("\n".utf8))), detail: detail)
        try openQuarantineFinding(site: message.site, epoch: message.epoch, stream: message.stream,
                                  range: message.seqFirst...message.seqLast, detail: detail)
        logger.warning("quarantined implausible input", metadata: [
            "site": "\(message.site)", "stream": "\(message.stream)", "seq": "\(message.seqFirst)...\(message.seqLast)", "reason": "\(reason)",
        ])
    }

    func openQuarantineFinding(site: String, epoch: String, stream: String, range: ClosedRange<Int64>?, detail: String) throws {
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            VALUES ('quarantined', $1, $2, $3, $4, $5, $6)
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail, resolved = NULL
            """, [site, epoch, String(stream.prefix(400)), range.map { String($0.lowerBound) }, range.map { String($0.upperBound) },
                  detail])
    }
}

extension RecordMessage {
    /// The records numbered up to `last`, and those after it, each as a message of its own.
    func split(through last: Int64) -> (upTo: RecordMessage?, after: RecordMessage?) {
        if seqLast <= last { return (self, nil) }
        if seqFirst > last { return (nil, self) }
        let count = Int(last - seqFirst + 1)
        var head = self, tail = self
        head.seqLast = last
        head.records = Array(records.prefix(count))
        tail.seqFirst = last + 1
        tail.records = Array(records.dropFirst(count))
        if kind == .sample {
            head.samples = Array(samples.prefix(count))
            tail.samples = Array(samples.dropFirst(count))
        }
        return (head, tail)
    }
}
