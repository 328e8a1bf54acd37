import ControlSiteRecords
import POCareContract
import Foundation
import PropertyBased
import Testing
import TestSupport

@Suite("Per-stream progress: contiguous number, highest, gaps")
struct StreamProgressTests {
    let t0 = Date(timeIntervalSince1970: 1_000)
    let t1 = Date(timeIntervalSince1970: 2_000)

    @Test("records in order advance the contiguous number with no gap")
    func inOrder() {
        var p = StreamProgress()
        #expect(p.apply(arrived: [1...100], at: t0) == .init())
        #expect(p.apply(arrived: [101...150], at: t0) == .init())
        #expect(p.contiguous == 150 && p.highest == 150 && p.gaps.isEmpty)
    }

    @Test("a skipped run opens a gap; late records fill it, keeping when it opened")
    func gapOpensAndFills() {
        var p = StreamProgress()
        _ = p.apply(arrived: [1...10], at: t0)
        #expect(p.apply(arrived: [21...30], at: t0).opened == [11...20])
        #expect(p.contiguous == 10 && p.highest == 30)
        let change = p.apply(arrived: [14...15], at: t1)
        #expect(change.filled == [14...15] && change.opened.isEmpty)
        #expect(p.gaps == [.init(11...13, openedAt: t0), .init(16...20, openedAt: t0)])
        _ = p.apply(arrived: [11...13, 16...20], at: t1)
        #expect(p.gaps.isEmpty && p.contiguous == 30)
    }

    @Test("numbers start at 1: a stream first seen at 5 is missing 1...4")
    func startsAtOne() {
        var p = StreamProgress()
        #expect(p.apply(arrived: [5...9], at: t0).opened == [1...4])
        #expect(p.contiguous == 0)
    }

    @Test("mergedRuns() joins ranges that overlap or touch")
    func mergedRuns() {
        #expect([Int64(1)...3, 2...5, 6...6, 9...9].mergedRuns() == [1...6, 9...9])
        #expect([ClosedRange<Int64>]().mergedRuns() == [])
    }

    @Test("runs() turns numbers into consecutive runs")
    func runs() {
        #expect([Int64(3), 1, 2, 7, 8, 8].runs() == [1...3, 7...8])
        #expect([Int64]().runs() == [])
    }

    @Test("property: whatever the arrival order, all numbers arrived means no gap and contiguous == highest")
    func anyOrder() async {
        await propertyCheck(input: Gen.int(in: 1...60).array(of: 1...40)) { chunks in
            // Cut 1...N into runs of the given sizes, then deliver them in a scrambled order.
            var runs: [ClosedRange<Int64>] = []
            var next: Int64 = 1
            for size in chunks {
                runs.append(next...(next + Int64(size) - 1))
                next += Int64(size)
            }
            let scrambled = runs.enumerated().sorted { ($0.offset * 7919) % 31 < ($1.offset * 7919) % 31 }.map(\.element)
            var p = StreamProgress()
            var opened: Int64 = 0
            for run in scrambled {
                let change = p.apply(arrived: [run], at: t0)
                opened += change.opened.reduce(0) { $0 + Int64($1.count) }
                #expect(p.missingCount >= 0)
            }
            #expect(p.gaps.isEmpty)
            #expect(p.contiguous == next - 1 && p.highest == next - 1)
        }
    }
}
