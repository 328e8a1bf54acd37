import Foundation

/// Where one stream stands at the Control Site: the highest number up to which every record
/// has arrived, the highest seen, and the open gaps between them. Pure: ingest loads it
/// (locked) from the database, applies what a transaction inserted, and writes it back.
public struct StreamProgress: Sendable, Equatable {
    /// A run of missing numbers, with when it was first seen missing (kept when it shrinks or splits).
    public struct Gap: Sendable, Equatable {
        public var range: ClosedRange<Int64>
        public var openedAt: Date
        public init(_ range: ClosedRange<Int64>, openedAt: Date) {
            self.range = range
            self.openedAt = openedAt
        }
    }

    /// Every number in 1...contiguous has arrived (0: none yet). Numbers start at 1 at the site.
    public var contiguous: Int64
    public var highest: Int64
    /// Open gaps, in order, all inside `contiguous + 1 ..< highest`.
    public var gaps: [Gap]

    public init(contiguous: Int64 = 0, highest: Int64 = 0, gaps: [Gap] = []) {
        self.contiguous = contiguous
        self.highest = highest
        self.gaps = gaps
    }

    /// What applying arrivals changed, for integrity findings.
    public struct Change: Sendable, Equatable {
        /// Numbers found missing for the first time.
        public var opened: [ClosedRange<Int64>] = []
        /// Numbers that were missing and have now arrived.
        public var filled: [ClosedRange<Int64>] = []
        public init(opened: [ClosedRange<Int64>] = [], filled: [ClosedRange<Int64>] = []) {
            self.opened = opened
            self.filled = filled
        }
    }

    /// Applies runs of numbers newly stored (never duplicates: the database decides that).
    public mutating func apply(arrived runs: [ClosedRange<Int64>], at time: Date) -> Change {
        var change = Change()
        for run in runs.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            // Whatever part of the run fills existing gaps.
            var remaining: [Gap] = []
            for gap in gaps {
                guard gap.range.overlaps(run) else {
                    remaining.append(gap)
                    continue
                }
                change.filled.append(max(gap.range.lowerBound, run.lowerBound)...min(gap.range.upperBound, run.upperBound))
                if gap.range.lowerBound < run.lowerBound {
                    remaining.append(Gap(gap.range.lowerBound...(run.lowerBound - 1), openedAt: gap.openedAt))
                }
                if gap.range.upperBound > run.upperBound {
                    remaining.append(Gap((run.upperBound + 1)...gap.range.upperBound, openedAt: gap.openedAt))
                }
            }
            gaps = remaining
            // Whatever part lies beyond the highest opens a gap if it skips numbers.
            if run.upperBound > highest {
                let skippedFrom = highest + 1
                if run.lowerBound > skippedFrom {
                    let skipped = skippedFrom...(run.lowerBound - 1)
                    gaps.append(Gap(skipped, openedAt: time))
                    change.opened.append(skipped)
                }
                highest = run.upperBound
            }
        }
        gaps.sort { $0.range.lowerBound < $1.range.lowerBound }
        contiguous = gaps.first.map { $0.range.lowerBound - 1 } ?? highest
        return change
    }

    /// Numbers still missing.
    public var missingCount: Int64 { gaps.reduce(0) { $0 + $1.range.upperBound - $1.range.lowerBound + 1 } }
}

extension Collection where Element == Int64 {
    /// Sorted distinct numbers as runs: [1, 2, 3, 7, 8] is [1...3, 7...8].
    public func runs() -> [ClosedRange<Int64>] {
        var result: [ClosedRange<Int64>] = []
        for n in Set(self).sorted() {
            if let last = result.last, last.upperBound + 1 == n {
                result[result.count - 1] = last.lowerBound...n
            } else {
                result.append(n...n)
            }
        }
        return result
    }
}

extension Collection where Element == ClosedRange<Int64> {
    /// Ranges merged where they overlap or touch: [1...3, 2...5, 6...6, 9...9] is [1...6, 9...9].
    public func mergedRuns() -> [ClosedRange<Int64>] {
        var result: [ClosedRange<Int64>] = []
        for range in sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...Swift.max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }
}
