import BatchStatistics

/// Thins a parameter's values as they stream past to the first, lowest, highest and last value
/// of each pixel column, with a break (nil) wherever the values stop being monitored: a value
/// not read well, or a gap longer than the hold. A spike one sample wide still reaches its
/// column's extreme, and the memory is that of the plot, not of the batch.
struct PlotSeriesBuilder {
    let parameter: String
    let unit: String
    let start: Double
    let width: Double
    let columns: Int
    let hold: Double
    private var times: [Double] = []
    private var values: [Double?] = []
    private var column = -1
    private var run: (first: (Double, Double), low: (Double, Double), high: (Double, Double), last: (Double, Double))?
    private var lastTime: Double?
    /// Breaks kept at most; past that, a column's breaks are drawn through (a flapping value).
    private var breaksLeft: Int

    init(parameter: String, unit: String, start: Double, end: Double, columns: Int, hold: Double) {
        self.parameter = parameter
        self.unit = unit
        self.start = start
        self.columns = max(1, columns)
        self.width = max(end - start, 1e-3) / Double(max(1, columns))
        self.hold = hold
        breaksLeft = 4 * max(1, columns)
    }

    mutating func add(time: Double, value: BatchStatistics.Observed?) {
        defer { lastTime = time }
        guard case .number(let v)? = value else {
            brk(at: time)
            return
        }
        if let last = lastTime, time - last > hold { brk(at: last + hold) }
        let c = min(columns - 1, max(0, Int((time - start) / width)))
        if c != column {
            flush()
            column = c
        }
        let point = (time, v)
        if var r = run {
            if v < r.low.1 { r.low = point }
            if v > r.high.1 { r.high = point }
            r.last = point
            run = r
        } else {
            run = (point, point, point, point)
        }
    }

    private mutating func brk(at time: Double) {
        guard run != nil || values.last.map({ $0 != nil }) == true else { return }
        flush()
        guard breaksLeft > 0 else { return }
        breaksLeft -= 1
        times.append(time)
        values.append(nil)
    }

    private mutating func flush() {
        guard let r = run else { return }
        run = nil
        var kept = [r.first, r.low, r.high, r.last]
        kept.sort { $0.0 < $1.0 }
        var previous: (Double, Double)?
        for p in kept where previous.map({ $0 != p }) ?? true {
            times.append(p.0)
            values.append(p.1)
            previous = p
        }
    }

    /// The series; nil when the parameter had no number in the batch (nothing to plot).
    mutating func finish(summary: BatchStatistics.Summary) -> PlotSeries? {
        flush()
        guard values.contains(where: { $0 != nil }) else { return nil }
        return PlotSeries(parameter: parameter, unit: unit, times: times, values: values)
    }
}
