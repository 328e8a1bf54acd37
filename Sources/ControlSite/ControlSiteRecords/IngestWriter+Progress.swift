import Foundation
import POCareContract

/// Each stream's progress (contiguous, highest, gaps) read under a row lock and written back in
/// the writer's transaction, so instances sharing the load agree on it; and the site's store epoch.
extension IngestWriter {
    func lockStreams(_ keys: [StreamKey], records: [RecordMessage]) throws -> [StreamKey: StreamProgress] {
        var progress: [StreamKey: StreamProgress] = [:]
        // The device and kind a new stream row is created with: those of its first message.
        var firstMessage: [StreamKey: RecordMessage] = [:]
        for message in records where firstMessage[message.streamKey] == nil { firstMessage[message.streamKey] = message }
        for key in keys {
            guard let message = firstMessage[key] else { continue }  // every key is taken from `records`
            try connection.execute("""
                INSERT INTO streams (site, epoch, stream, device, kind) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (site, epoch, stream) DO NOTHING
                """, [key.site, key.epoch, key.stream, message.device, message.kind.rawValue])
            let row = try connection.execute(
                "SELECT contiguous, highest FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE",
                [key.site, key.epoch, key.stream])
            var stream = StreamProgress(contiguous: row.int(0, "contiguous") ?? 0, highest: row.int(0, "highest") ?? 0)
            if stream.contiguous < stream.highest {
                let gaps = try connection.execute("""
                    SELECT seq_from, seq_to, extract(epoch FROM opened) AS opened FROM gaps
                    WHERE site = $1 AND epoch = $2 AND stream = $3 ORDER BY seq_from
                    """, [key.site, key.epoch, key.stream])
                // NOT NULL columns, written only by `saveProgress` with seq_from <= seq_to.
                stream.gaps = gaps.map { row in
                    guard let from = row.int("seq_from"), let to = row.int("seq_to"), from <= to else { return nil }
                    return StreamProgress.Gap(from...to, openedAt: Date(timeIntervalSince1970: row.double("opened") ?? 0))
                }.compactMap { $0 }
            }
            progress[key] = stream
        }
        return progress
    }

    func saveProgress(
        _ key: StreamKey, _ stream: StreamProgress, change: StreamProgress.Change, inserted: Int, duplicates: Int,
        newestTimes: [String?], now: Date
    ) throws {
        let k = [key.site, key.epoch, key.stream]
        try connection.execute("""
            UPDATE streams SET contiguous = $4, highest = $5, records = records + $6, duplicates = duplicates + $7,
                last_received = now(), last_record_time = greatest(last_record_time, $8::timestamptz, $9::timestamptz)
            WHERE site = $1 AND epoch = $2 AND stream = $3
            """, k + [String(stream.contiguous), String(stream.highest), String(inserted), String(duplicates)] + newestTimes)
        guard !change.opened.isEmpty || !change.filled.isEmpty else { return }
        try connection.execute("DELETE FROM gaps WHERE site = $1 AND epoch = $2 AND stream = $3", k)
        for gap in stream.gaps {
            try connection.execute(
                "INSERT INTO gaps (site, epoch, stream, seq_from, seq_to, opened) VALUES ($1, $2, $3, $4, $5, to_timestamp($6))",
                k + [String(gap.range.lowerBound), String(gap.range.upperBound), String(gap.openedAt.timeIntervalSince1970)])
        }
        for range in change.opened {
            logger.warning("gap in a stream", metadata: [
                "site": "\(key.site)", "stream": "\(key.stream)", "missing": "\(range.lowerBound)...\(range.upperBound)",
            ])
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                VALUES ('gap', $1, $2, $3, $4, $5, $6)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
                """, k + [String(range.lowerBound), String(range.upperBound),
                          "records \(range.lowerBound)...\(range.upperBound) missing (a later record arrived first)"])
        }
        // A gap finding is resolved once none of its numbers is missing any more.
        try connection.execute("""
            UPDATE integrity_findings f SET resolved = now()
            WHERE f.kind = 'gap' AND f.resolved IS NULL AND f.site = $1 AND f.epoch = $2 AND f.stream = $3
              AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.site = f.site AND g.epoch = f.epoch AND g.stream = f.stream
                              AND g.seq_from <= f.seq_to AND g.seq_to >= f.seq_from)
            """, k)
    }

    /// A record stating a store epoch other than the one last seen for its site: the site's
    /// store was replaced, and its numbers start again.
    func recordEpochs(_ records: [RecordMessage]) throws {
        for (site, epoch) in Set(records.filter { !$0.epoch.isEmpty }.map { SiteEpoch(site: $0.site, epoch: $0.epoch) }).map({ ($0.site, $0.epoch) }) {
            let found = try connection.execute("SELECT epoch FROM sites WHERE site = $1 FOR UPDATE", [site])
            let previous = found.rowCount > 0 ? found.string(0, "epoch") : nil
            guard previous != epoch else { continue }
            try connection.execute("""
                INSERT INTO sites (site, epoch) VALUES ($1, $2) ON CONFLICT (site) DO UPDATE SET epoch = excluded.epoch
                """, [site, epoch])
            guard let previous, !previous.isEmpty else { continue }
            logger.warning("site store epoch changed", metadata: ["site": "\(site)", "from": "\(previous)", "to": "\(epoch)"])
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, detail) VALUES ('epoch_change', $1, $2, $3)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
                """, [site, epoch, "store epoch changed from \(previous) to \(epoch): the site's store was replaced"])
        }
    }

}
