import POCareContract

/// A copy of a sample whose month is archived cannot be compared with the record now, which is
/// not in the database: it is kept in `records_set_aside` (reason `archived_month`) and not
/// stored, so restoring the month never meets a second row of one number; `restore` compares it. Such a copy is numbered within
/// its stream's complete part (a month is archived only when it is), so nothing is missing for it.
/// Archived numbers are never beyond a stream's highest, so only messages reaching below it are looked up.
extension IngestWriter {
    func setAsideArchived(_ records: [RecordMessage], progress: [StreamKey: StreamProgress]) throws -> [RecordMessage] {
        guard records.contains(where: { $0.kind == .sample && $0.seqFirst <= (progress[$0.streamKey]?.highest ?? 0) }) else { return records }
        var kept: [RecordMessage] = []
        for message in records {
            guard message.kind == .sample, message.seqFirst <= (progress[message.streamKey]?.highest ?? 0) else {
                kept.append(message)
                continue
            }
            let ranges = try connection.execute("""
                SELECT seq_from, seq_to, to_char(month, 'YYYY-MM') AS month FROM archived_ranges
                WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq_from <= $5 AND seq_to >= $4 ORDER BY seq_from
                """, [message.site, message.epoch, message.stream, String(message.seqFirst), String(message.seqLast)])
            var rest: RecordMessage? = message
            for row in ranges.map({ $0 }) {
                guard let current = rest, let from = row.int("seq_from"), let to = row.int("seq_to") else { break }
                let (before, fromRange) = current.split(through: from - 1)
                if let before { kept.append(before) }
                guard let fromRange else { rest = nil; break }
                let (inside, after) = fromRange.split(through: to)
                if let inside {
                    let month = row.string("month") ?? ""
                    try setAside("archived_month", site: inside.site, epoch: inside.epoch, stream: inside.stream, seq: inside.seqFirst,
                                 record: Array(inside.records.prefix(100).joined(separator: Array("\n".utf8))),
                                 detail: "records \(inside.seqFirst)...\(inside.seqLast) (\(inside.records.count)) are in \(month), archived: "
                                     + "compared with the records when the month is restored (the first 100 are kept)")
                    logger.notice("copies of archived records set aside", metadata: [
                        "site": "\(inside.site)", "stream": "\(inside.stream)", "seq": "\(inside.seqFirst)...\(inside.seqLast)", "month": "\(month)",
                    ])
                }
                rest = after
            }
            if let rest { kept.append(rest) }
        }
        return kept
    }
}
