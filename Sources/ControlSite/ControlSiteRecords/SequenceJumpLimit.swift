import POCareContract
import POCareConfig

/// A record numbered far beyond what its stream is known to have reached is not a stream's
/// record until something the site signed says the stream got there: a forged number such as
/// 9 x 10^15 would otherwise open a gap no site can ever fill. Known reach: the stream's highest
/// stored number, or the head a verified checkpoint of the site signed for it, whichever is
/// higher. Records beyond reach + `maxJump` are quarantined (`sequence_jump`); the live stream
/// goes on. A stream the Control Site meets after a site's long run is taken from its first
/// signed checkpoint on, and the numbers before that are asked for as a gap.
/// control.yaml `ingest.max_sequence_jump` (docs/control-site.md).
public struct SequenceJumpLimit: Sendable, Equatable {
    public static let standard = SequenceJumpLimit(maxJump: 1_000_000)
    public static let range: ClosedRange<Int64> = 1_000...1_000_000_000_000

    public var maxJump: Int64
    public init(maxJump: Int64) { self.maxJump = maxJump }

    /// Reads `max_sequence_jump` from control.yaml's `ingest:` section.
    static func parse(_ reader: MappingReader) -> SequenceJumpLimit? {
        guard reader.has("max_sequence_jump") else { return nil }
        guard let value = reader.int("max_sequence_jump", in: Int(range.lowerBound)...Int(range.upperBound)) else { return nil }
        return SequenceJumpLimit(maxJump: Int64(value))
    }
}

extension IngestWriter {
    /// The records within the limit; the rest quarantined.
    func screenSequenceJumps(_ records: [RecordMessage]) throws -> [RecordMessage] {
        // No stream's reach is below 0, so a message numbered within the limit passes unread.
        guard records.contains(where: { $0.seqLast > sequenceJumpLimit.maxJump }) else { return records }
        var reach: [StreamKey: Int64] = [:]
        var kept: [RecordMessage] = []
        kept.reserveCapacity(records.count)
        for message in records {
            guard message.seqLast > sequenceJumpLimit.maxJump else {
                kept.append(message)
                continue
            }
            let key = StreamKey(site: message.site, epoch: message.epoch, stream: message.stream)
            let known = try reach[key] ?? knownReach(key)
            let limit = known + sequenceJumpLimit.maxJump
            let (plausible, beyond) = message.split(through: limit)
            if let plausible {
                kept.append(plausible)
                reach[key] = max(known, plausible.seqLast)
            } else {
                reach[key] = known
            }
            if let beyond {
                try quarantine(beyond, reason: "sequence_jump", detail: "records \(beyond.seqFirst)...\(beyond.seqLast) of \(message.stream) "
                    + "are numbered beyond \(limit): the stream is known to have reached \(known) (stored records and the site's "
                    + "signed checkpoints) and ingest.max_sequence_jump is \(sequenceJumpLimit.maxJump); held for QA, no gap opened")
            }
        }
        return kept
    }

    private func knownReach(_ key: StreamKey) throws -> Int64 {
        let row = try connection.execute("""
            SELECT greatest(
                (SELECT max(highest) FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3),
                (SELECT max(c.seq) FROM chain_checkpoints c JOIN site_checkpoints s ON s.id = c.checkpoint AND s.verified
                 WHERE c.site = $1 AND c.epoch = $2 AND c.stream = $3), 0) AS reach
            """, [key.site, key.epoch, key.stream])
        return row.int(0, "reach") ?? 0
    }
}
