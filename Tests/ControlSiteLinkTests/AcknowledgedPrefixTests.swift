@testable import ControlSiteLink
import Testing

@Suite("The delivered watermark moves over the acknowledged prefix only")
struct AcknowledgedPrefixTests {
    @Test("an acknowledgement that overtakes an earlier one waits for it")
    func outOfOrder() {
        var prefix = AcknowledgedPrefix()
        for last: Int64 in [5, 10, 15] { prefix.published(through: last) }
        #expect(prefix.acknowledged(through: 10) == nil, "5 is still in flight")
        #expect(prefix.acknowledged(through: 5) == 10, "5 and 10 together")
        #expect(prefix.acknowledged(through: 99) == nil, "an unknown message moves nothing")
        #expect(prefix.acknowledged(through: 15) == 15)
        #expect(prefix.isEmpty)
    }

    @Test("in any order of acknowledgements the watermark only rises, never past an unacknowledged message, and ends at the last")
    func anyOrder() {
        for seed in 0..<200 {
            var generator = SplitMix(seed: UInt64(seed))
            let lasts = (1...Int64(1 + seed % 12)).map { $0 * 3 }
            var prefix = AcknowledgedPrefix()
            for last in lasts { prefix.published(through: last) }
            var acknowledged = Set<Int64>()
            var watermark: Int64 = 0
            for last in lasts.shuffled(using: &generator) {
                acknowledged.insert(last)
                if let moved = prefix.acknowledged(through: last) {
                    #expect(moved > watermark)
                    watermark = moved
                }
                let firstOpen = lasts.first { !acknowledged.contains($0) }
                #expect(firstOpen.map { watermark < $0 } ?? true, "seed \(seed): never past \(firstOpen ?? -1)")
            }
            #expect(watermark == lasts.last && prefix.isEmpty)
        }
    }
}

/// A small seeded generator, so a failing order can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
