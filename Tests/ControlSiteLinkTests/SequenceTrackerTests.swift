import ControlSiteLink
import POCareContract
import PropertyBased
import Testing

@Suite("Control Site de-duplication by sequence number")
struct SequenceTrackerTests {
    @Test("in-order messages are new; a repeat is a duplicate")
    func inOrder() {
        var tracker = SequenceTracker()
        #expect(tracker.observe(stream: "s", first: 1, last: 100) == .new)
        #expect(tracker.observe(stream: "s", first: 101, last: 150) == .new)
        #expect(tracker.observe(stream: "s", first: 101, last: 150) == .duplicate)
        #expect(tracker.observe(stream: "s", first: 1, last: 1) == .duplicate)
        #expect(tracker.summaries.first?.missing == [])
        #expect(tracker.summaries.first?.duplicates == 2)
    }

    @Test("a skipped range is missing until it arrives")
    func gapFilledLater() {
        var tracker = SequenceTracker()
        _ = tracker.observe(stream: "s", first: 1, last: 10)
        #expect(tracker.observe(stream: "s", first: 21, last: 30) == .new)
        #expect(tracker.missing(in: "s") == [11...20])
        #expect(tracker.observe(stream: "s", first: 11, last: 15) == .new)
        #expect(tracker.missing(in: "s") == [16...20])
        #expect(tracker.observe(stream: "s", first: 14, last: 22) == .partlyNew)
        #expect(tracker.missing(in: "s") == [])
    }

    @Test("streams are independent")
    func independentStreams() {
        var tracker = SequenceTracker()
        _ = tracker.observe(stream: "a", first: 1, last: 5)
        #expect(tracker.observe(stream: "b", first: 1, last: 5) == .new)
        #expect(tracker.summaries.map(\.stream) == ["a", "b"])
    }

    @Test("any delivery order with repeats: nothing is missing once every number has arrived, and each number counts once")
    func anyOrder() async {
        let messages = zip(Gen.int(in: 1...200), Gen.int(in: 0...20)).array(of: 1...60)
        await propertyCheck(count: 200, input: messages) { messages in
            var tracker = SequenceTracker()
            var seen = Set<Int64>()
            var newNumbers = 0
            for (start, length) in messages {
                let first = Int64(start), last = Int64(start + length)
                let fresh = (first...last).filter { !seen.contains($0) }.count
                let observation = tracker.observe(stream: "s", first: first, last: last)
                #expect(observation == (fresh == 0 ? .duplicate : fresh == length + 1 ? .new : .partlyNew))
                newNumbers += fresh
                seen.formUnion(first...last)
            }
            let summary = tracker.summaries[0]
            let missing = summary.missing.reduce(0) { $0 + Int($1.count) }
            let span = Int(summary.highest - summary.first + 1)
            #expect(span - missing == seen.count, "received plus missing covers the span")
            #expect(newNumbers == seen.count)
        }
    }
}
