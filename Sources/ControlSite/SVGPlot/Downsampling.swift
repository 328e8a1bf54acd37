/// Fewer points for a long series without losing an excursion: per pixel column, the first,
/// lowest, highest and last value, in time order. A spike one sample wide still reaches its
/// column's extreme, where averaging or decimation would smooth it away.
public enum Downsampling {
    public struct Point: Sendable, Equatable {
        public var time: Double
        public var value: Double
        public init(time: Double, value: Double) {
            self.time = time
            self.value = value
        }
    }

    /// `points` in time order; the result keeps at most four points per column of `columns`
    /// columns across `start...end`.
    public static func minMaxPerColumn(_ points: [Point], start: Double, end: Double, columns: Int) -> [Point] {
        guard columns > 0, end > start, points.count > columns * 4 else { return points }
        var result: [Point] = []
        result.reserveCapacity(columns * 4)
        var column = -1
        var bucket: [Point] = []
        func flush() {
            guard let first = bucket.first, let last = bucket.last else { return }
            var low = first, high = first
            for p in bucket {
                if p.value < low.value { low = p }
                if p.value > high.value { high = p }
            }
            var kept = [first, low, high, last]
            kept.sort { $0.time < $1.time }
            for p in kept where result.last != p { result.append(p) }
        }
        let width = (end - start) / Double(columns)
        for p in points {
            let c = min(columns - 1, max(0, Int((p.time - start) / width)))
            if c != column {
                flush()
                bucket.removeAll(keepingCapacity: true)
                column = c
            }
            bucket.append(p)
        }
        flush()
        return result
    }
}
