import Foundation
import Hashing
import POCareContract

/// Recomputes the chains from what the database keeps (docs/control-site.md, "Records the
/// Control Site can prove"): `pocare-control verify` walks them, `batch export` writes them
/// out. Each stored record is written back as the contract carried it, and the same
/// `WireRecordHash` that checked it on arrival checks it again.
public enum StoredRecordProof {
    /// The records of one stream from `from` through `through`, each as contract JSON, in order.
    public static func records(
        site: String, epoch: String, stream: String, from: Int64, through: Int64, on connection: PostgresConnection,
        _ visit: (Int64, String) throws -> Void
    ) throws {
        let kind = try connection.execute("SELECT kind FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3", [site, epoch, stream])
            .string(0, "kind") ?? (stream.hasSuffix("/telemetry") ? "sample" : stream == "audit" ? "audit" : "event")
        var after = from - 1
        while after < through {
            let page: PostgresResult
            switch kind {
            case "sample":
                // A window of numbers rather than a LIMIT: the records of a chunk are unpacked before
                // they are ordered, so a page of an open range unpacked every chunk up to the
                // stream's end, and a stream of months took a time that grew with its square.
                let (beyond, overflow) = after.addingReportingOverflow(10_000)
                let windowEnd = overflow || beyond > through ? through : beyond
                page = try connection.execute("""
                    SELECT seq, \(SQLTime.iso("time")) AS time_utc, time_ns, cycle, batch, phase, spec, hash, previous_hash,
                           "values"::text AS "values", raw::text AS raw, quality::text AS quality
                    FROM stream_samples($1, $2, $3, $4::bigint + 1, $5::bigint) ORDER BY seq
                    """, [site, epoch, stream, String(after), String(windowEnd)])
                if page.rowCount == 0 {
                    // No number stored in the window: on from the next stored one, however far.
                    guard windowEnd < through, let next = try nextSample(site: site, epoch: epoch, stream: stream, after: windowEnd, through: through,
                                                                         on: connection) else { return }
                    after = next - 1
                    continue
                }
            case "event":
                page = try connection.execute("""
                    SELECT seq, device, record->>'time_ns' AS time_ns, kind, record->>'alarm' AS alarm, batch, phase, spec, hash, previous_hash, body, stream
                    FROM events WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq > $4 AND seq <= $5 ORDER BY seq LIMIT 10000
                    """, [site, epoch, stream, String(after), String(through)])
            default:
                page = try connection.execute("""
                    SELECT seq, record::text AS record FROM audit_entries
                    WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq > $4 AND seq <= $5 ORDER BY seq LIMIT 10000
                    """, [site, epoch, stream, String(after), String(through)])
            }
            guard page.rowCount > 0 else { return }
            for row in page.map({ $0 }) {
                // seq is the primary key's last part: never NULL.
                let seq = row.int("seq") ?? 0
                try visit(seq, kind == "sample" ? sampleText(row) : kind == "event" ? eventText(row) : row.string("record") ?? "{}")
                after = seq
            }
        }
    }

    /// The lowest number of a stream stored after `after` and not beyond `through`, as a row or in a chunk.
    static func nextSample(site: String, epoch: String, stream: String, after: Int64, through: Int64,
                           on connection: PostgresConnection) throws -> Int64? {
        try connection.execute("""
            SELECT least(
                (SELECT min(seq) FROM samples WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq > $4::bigint AND seq <= $5::bigint),
                (SELECT min(greatest(seq_first, $4::bigint + 1)) FROM sample_chunks
                 WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq_first BETWEEN $4::bigint - 1023 AND $5::bigint
                   AND seq_first + n - 1 > $4::bigint)) AS next
            """, [site, epoch, stream, String(after), String(through)]).int(0, "next")
    }

    /// The archived ranges of a stream that meet `from...through`, in order.
    static func archivedRanges(site: String, epoch: String, stream: String, from: Int64, through: Int64, on connection: PostgresConnection)
        throws -> [(from: Int64, to: Int64, firstPrevious: String?, last: String?)] {
        try connection.execute("""
            SELECT seq_from, seq_to, first_previous_hash, last_hash FROM archived_ranges
            WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq_from <= $5 AND seq_to >= $4 ORDER BY seq_from
            """, [site, epoch, stream, String(from), String(through)]).map { row in
            (row.int("seq_from") ?? 0, row.int("seq_to") ?? 0, row.string("first_previous_hash"), row.string("last_hash"))
        }
    }

    private static func text(_ value: String?) -> String { value.map(CanonicalJSON.string) ?? "null" }

    static func sampleText(_ r: PostgresResult.Row) -> String {
        var fields = ["\"seq\":\(r.string("seq") ?? "0")", "\"time\":" + text(r.string("time_utc"))]
        if let ns = r.string("time_ns") { fields.append("\"time_ns\":\(ns)") }
        fields += ["\"cycle\":\(r.string("cycle") ?? "null")", "\"batch\":" + text(r.string("batch")), "\"phase\":" + text(r.string("phase")),
                   "\"spec\":" + text(r.string("spec")), "\"hash\":" + text(r.string("hash")), "\"previous_hash\":" + text(r.string("previous_hash")),
                   "\"values\":" + (r.string("values") ?? "{}"), "\"raw\":" + (r.string("raw") ?? "null"), "\"quality\":" + (r.string("quality") ?? "null")]
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func eventText(_ r: PostgresResult.Row) -> String {
        var fields = ["\"seq\":\(r.string("seq") ?? "0")", "\"device\":" + text(r.string("device")), "\"stream\":" + text(r.string("stream"))]
        // Without its body as sent, an event's hash cannot be recomputed: it goes without time_ns.
        if let ns = r.string("time_ns"), r.string("body") != nil { fields.append("\"time_ns\":\(ns)") }
        fields += ["\"kind\":" + text(r.string("kind")), "\"alarm\":" + text(r.string("alarm")), "\"batch\":" + text(r.string("batch")),
                   "\"phase\":" + text(r.string("phase")), "\"spec\":" + text(r.string("spec")), "\"hash\":" + text(r.string("hash")),
                   "\"previous_hash\":" + text(r.string("previous_hash"))]
        let body = r.string("body")
        fields.append("\"event\":" + (body.map { $0.isEmpty ? "null" : $0 } ?? "null"))
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Recomputes one record given as contract JSON.
    public static func verdict(kind: String, stream: String, device: String, text: String) -> (seq: Int64, hash: String?, previous: String?, verdict: WireRecordHash.Verdict) {
        guard let fields = try? JSONFields(Array(text.utf8)) else { return (-1, nil, nil, .notRecomputable("unreadable")) }  // written by this file: a failure is named, not thrown
        let verdict: WireRecordHash.Verdict
        switch kind {
        case "sample": verdict = WireRecordHash.sample(stream: stream, device: device, sample: SampleFields.read(fields))
        case "event": verdict = WireRecordHash.event(fields)
        default: verdict = WireRecordHash.audit(fields)
        }
        return (fields.int("seq") ?? -1, fields.string("hash"), fields.string("previous_hash"), verdict)
    }

    /// Every stream of the site (or the batch's segments), walked; one line each, and whether all are intact.
    public static func verify(site: String, batch: String?, on connection: PostgresConnection) throws -> (lines: [String], intact: Bool) {
        var targets: [(epoch: String, stream: String, kind: String, device: String, from: Int64, through: Int64)] = []
        if let batch {
            for segment in try ChainCoverage.segments(site: site, batch: batch, on: connection) {
                let kind = segment.stream.hasSuffix("/telemetry") ? "sample" : "event"
                targets.append((segment.epoch, segment.stream, kind, String(segment.stream.split(separator: "/").first ?? ""), segment.first,
                                max(segment.last, segment.signedSeq ?? segment.last)))
            }
        } else {
            let streams = try connection.execute(
                "SELECT epoch, stream, kind, coalesce(device, '') AS device, highest FROM streams WHERE site = $1 ORDER BY epoch, stream", [site])
            targets += streams.map { row in
                (row.string("epoch") ?? "", row.string("stream") ?? "", row.string("kind") ?? "event", row.string("device") ?? "", 1, row.int("highest") ?? 0)
            }
        }
        var lines: [String] = []
        var intact = true
        for target in targets {
            var walk = ChainWalk(stream: target.epoch.isEmpty ? target.stream : "\(target.stream) (epoch \(target.epoch.prefix(8)))")
            // Archived months are passed through the hashes kept at their ends; the rest is recomputed.
            let archived = target.kind == "sample"
                ? try archivedRanges(site: site, epoch: target.epoch, stream: target.stream, from: target.from, through: target.through, on: connection)
                : []
            var cursor = target.from
            for range in archived + [nil] {
                let through = range.map { $0.from - 1 } ?? target.through
                if cursor <= through {
                    try records(site: site, epoch: target.epoch, stream: target.stream, from: cursor, through: through, on: connection) { _, text in
                        let r = verdict(kind: target.kind, stream: target.stream, device: target.device, text: text)
                        walk.take(seq: r.seq, hash: r.hash, previousHash: r.previous, verdict: r.verdict)
                    }
                }
                if let range {
                    walk.passArchived(from: range.from, to: range.to, firstPreviousHash: range.firstPrevious, lastHash: range.last)
                    cursor = range.to + 1
                }
            }
            intact = intact && walk.firstBreak == nil
            lines.append(walk.summary)
        }
        if targets.isEmpty { lines.append("no records of \(site)\(batch.map { " batch \($0)" } ?? "") are held") }
        return (lines, intact && !targets.isEmpty)
    }
}
