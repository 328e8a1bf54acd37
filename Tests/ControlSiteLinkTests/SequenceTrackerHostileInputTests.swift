import ControlSiteLink
import POCareContract
import Testing

@Suite("Control Site de-duplication against numbers no site sends")
struct SequenceTrackerHostileInputTests {
    @Test("sequence numbers at the ends of Int64 are ignored, never overflow, and leave the stream as it was")
    func extremes() {
        var tracker = SequenceTracker()
        #expect(tracker.observe(stream: "s", first: 1, last: 10) == .new)
        for (first, last) in [(Int64.min, Int64.max), (1, Int64.max), (Int64.max, Int64.max), (0, 5), (-5, 3), (Int64.max - 1, Int64.max)] {
            #expect(tracker.observe(stream: "s", first: first, last: last) == .duplicate, "\(first)...\(last)")
        }
        #expect(tracker.observe(stream: "s", first: 11, last: 12) == .new)
        #expect(tracker.missing(in: "s") == [])
        #expect(tracker.observe(stream: "t", first: Int64.min, last: -1) == .duplicate)
    }
}
