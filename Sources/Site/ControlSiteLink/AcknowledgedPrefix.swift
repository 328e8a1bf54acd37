/// The messages of one stream published and not yet acknowledged, in publishing order. QoS 1
/// acknowledgements may arrive out of order; the stream's delivered watermark may only move over
/// the contiguous acknowledged prefix, so a record is never marked delivered while an earlier
/// one could still be lost. Pure, so the rule is tested without a broker.
struct AcknowledgedPrefix: Sendable {
    private var pending: [(last: Int64, acknowledged: Bool)] = []

    /// A message was published whose last sequence number is `last`.
    mutating func published(through last: Int64) { pending.append((last, false)) }

    /// The message ending at `last` was acknowledged. Returns the new watermark when the
    /// acknowledged prefix grew, nil when the message waits behind an earlier one (or is unknown).
    mutating func acknowledged(through last: Int64) -> Int64? {
        guard let index = pending.firstIndex(where: { $0.last == last }) else { return nil }
        pending[index].acknowledged = true
        var watermark: Int64?
        while let head = pending.first, head.acknowledged {
            watermark = head.last
            pending.removeFirst()
        }
        return watermark
    }

    var isEmpty: Bool { pending.isEmpty }
}
