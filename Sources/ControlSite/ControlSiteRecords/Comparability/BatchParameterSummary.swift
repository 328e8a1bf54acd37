import BatchStatistics
import POCareCore

/// One parameter of one batch in one phase, as QA compares batches: the numbers of
/// `BatchStatistics` (the rule of the site's batch record and the batch page), so a batch's
/// mean in `compare` is the mean the QP signed.
public struct BatchParameterSummary: Sendable, Codable, Equatable {
    public var parameter: String
    /// Time-weighted mean and standard deviation over monitored time; nil when nothing was monitored.
    public var mean: Double?
    public var standardDeviation: Double?
    /// Shares of monitored time inside the alert range, in the alert band, beyond an action limit.
    public var inRangeShare: Double
    public var alertShare: Double
    public var actionShare: Double
    /// Excursions (the time the value was outside its limits) and their total duration.
    public var excursions: Int
    public var excursionSeconds: Double
    /// Share of the phase's time without a good value (bad quality, or a hole in the records).
    public var unmonitoredShare: Double
    public var monitoredSeconds: Double

    /// The comparability view of one parameter's statistics in a phase.
    public init(_ s: BatchStatistics.ParameterSummary) {
        parameter = s.parameter
        mean = s.timeWeightedMean
        standardDeviation = s.standardDeviation
        inRangeShare = s.inRangeShare ?? (s.monitoredS > 0 ? 1 : 0)
        alertShare = s.alertShare ?? 0
        actionShare = s.actionShare ?? 0
        excursions = s.excursions
        excursionSeconds = s.excursionS
        unmonitoredShare = s.unmonitoredShare
        monitoredSeconds = s.monitoredS
    }

    /// A parameter that the phase's samples never carried: all of the phase unmonitored.
    public init(unmonitored parameter: String) {
        self.parameter = parameter
        inRangeShare = 0
        alertShare = 0
        actionShare = 0
        excursions = 0
        excursionSeconds = 0
        unmonitoredShare = 1
        monitoredSeconds = 0
    }

    /// One observation: the site's time in seconds and the value (nil when it was not read well).
    public struct Point: Sendable, Equatable {
        public var time: Double
        public var value: Double?
        public init(time: Double, value: Double?) {
            self.time = time
            self.value = value
        }
    }

    /// A series on its own, outside a batch: from its first point to one median interval past
    /// its last, by `BatchStatistics`.
    public static func summarise(parameter: String, points: [Point], limits: ParameterLimits?) -> BatchParameterSummary {
        let sorted = points.sorted { $0.time < $1.time }
        guard let first = sorted.first, let last = sorted.last else { return BatchParameterSummary(unmonitored: parameter) }
        let times = sorted.map(\.time)
        var steps = zip(times.dropFirst(), times).map { $0 - $1 }.filter { $0 > 0 }
        steps.sort()
        let median = steps.isEmpty ? 1 : steps[(steps.count - 1) / 2]
        let phase = "-"
        var phaseLimits = limits ?? ParameterLimits(parameterId: parameter)
        phaseLimits.parameterId = parameter
        let spec = IPCSpec(
            identity: SpecIdentity(product: "", process: "", documentId: "", version: "", approvedBy: "", approvalDate: "", changeControl: "",
                                   profiles: []),
            phases: [PhaseLimits(phase: phase, limits: [phaseLimits])], communicationLossPolls: 3, running: nil, fingerprint: "")
        var accumulator = BatchStatistics.Accumulator(
            tracks: [.init(parameter: parameter)], spec: spec, start: first.time, end: last.time + median,
            holdLimit: BatchStatistics.holdLimit(times: times))
        for p in sorted {
            accumulator.add(time: p.time, phase: phase, running: nil) { _ in p.value.map { .number($0) } }
        }
        guard let s = accumulator.finish().phase(phase)?.parameter(parameter) else { return BatchParameterSummary(unmonitored: parameter) }
        return BatchParameterSummary(s)
    }

    public enum Zone: Equatable { case inRange, alert, action }

    public static func classify(_ value: Double, _ limits: ParameterLimits?) -> Zone {
        switch BatchStatistics.zone(.number(value), limits) {
        case .alert: .alert
        case .action: .action
        case .inRange, .unlimited: .inRange
        }
    }
}
