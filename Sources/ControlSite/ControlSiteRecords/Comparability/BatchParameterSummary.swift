import POCareCore

/// One parameter of one batch in one phase, as QA compares batches: time-weighted, so a
/// stretch of fast polling does not outweigh the rest, and honest about unmonitored time.
public struct BatchParameterSummary: Sendable, Codable, Equatable {
    public var parameter: String
    /// Time-weighted mean and standard deviation over monitored time; nil when nothing was monitored.
    public var mean: Double?
    public var standardDeviation: Double?
    /// Shares of monitored time inside the alert range, in the alert band, beyond an action limit.
    public var inRangeShare: Double
    public var alertShare: Double
    public var actionShare: Double
    /// Runs of consecutive monitored values outside the alert range, and their total duration.
    public var excursions: Int
    public var excursionSeconds: Double
    /// Share of the phase's time without a good value (bad quality, or a hole in the records).
    public var unmonitoredShare: Double
    public var monitoredSeconds: Double

    /// One observation: the site's time in seconds and the value (nil when it was not read well).
    public struct Point: Sendable, Equatable {
        public var time: Double
        public var value: Double?
        public init(time: Double, value: Double?) {
            self.time = time
            self.value = value
        }
    }

    /// Each value holds until the next sample, but for no longer than `maxHoldFactor` times the
    /// median sampling interval; beyond that, time counts as unmonitored.
    public static func summarise(parameter: String, points: [Point], limits: ParameterLimits?, maxHoldFactor: Double = 3)
        -> BatchParameterSummary
    {
        var result = BatchParameterSummary(
            parameter: parameter, mean: nil, standardDeviation: nil, inRangeShare: 0, alertShare: 0, actionShare: 0,
            excursions: 0, excursionSeconds: 0, unmonitoredShare: 1, monitoredSeconds: 0)
        let sorted = points.sorted { $0.time < $1.time }
        guard !sorted.isEmpty else { return result }
        let intervals = zip(sorted.dropFirst(), sorted).map { $0.time - $1.time }.filter { $0 > 0 }
        let median = intervals.isEmpty ? 1 : intervals.sorted()[intervals.count / 2]
        let maxHold = median * maxHoldFactor

        var total = 0.0, monitored = 0.0, weightedSum = 0.0
        var inRange = 0.0, alert = 0.0, action = 0.0
        var inExcursion = false
        var weights: [(Double, Double)] = []
        for (i, point) in sorted.enumerated() {
            let span = i + 1 < sorted.count ? sorted[i + 1].time - point.time : median
            total += span
            guard let value = point.value, value.isFinite else {
                inExcursion = false
                continue
            }
            let held = min(span, maxHold)
            monitored += held
            weightedSum += held * value
            weights.append((held, value))
            switch classify(value, limits) {
            case .inRange:
                inRange += held
                inExcursion = false
            case .alert, .action:
                if classify(value, limits) == .alert { alert += held } else { action += held }
                if !inExcursion { result.excursions += 1 }
                inExcursion = true
                result.excursionSeconds += held
            }
            // A hole longer than the hold ends an excursion: nobody knows what happened in it.
            if span > maxHold { inExcursion = false }
        }
        guard monitored > 0 else { return result }
        let mean = weightedSum / monitored
        let variance = weights.reduce(0) { $0 + $1.0 * ($1.1 - mean) * ($1.1 - mean) } / monitored
        result.mean = mean
        result.standardDeviation = variance.squareRoot()
        result.inRangeShare = inRange / monitored
        result.alertShare = alert / monitored
        result.actionShare = action / monitored
        result.unmonitoredShare = max(0, (total - monitored) / total)
        result.monitoredSeconds = monitored
        return result
    }

    public enum Zone: Equatable { case inRange, alert, action }

    public static func classify(_ value: Double, _ limits: ParameterLimits?) -> Zone {
        guard let limits else { return .inRange }
        if let low = limits.actionLow, value < low { return .action }
        if let high = limits.actionHigh, value > high { return .action }
        if let low = limits.alertLow, value < low { return .alert }
        if let high = limits.alertHigh, value > high { return .alert }
        return .inRange
    }
}
