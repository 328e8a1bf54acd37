import Foundation
import POCareCore

/// The one rule by which a batch's values are weighted and its excursions found, used by the
/// site's batch record, the Control Site's batch page and `pocare-control batch`, and the
/// inputs of comparability. Pure: no store, no database, no clock.
///
/// **Time weighting.** A device's part of a batch runs from its start to its end. Each sample's
/// values hold from its time until the next sample's, for at most the *hold limit* H; time
/// beyond H, and time covered by a sample without a good value (or taken while the device's
/// running signal says it is not running), is unmonitored. H is three times the median interval
/// between consecutive samples of the device in the batch, and at least two seconds
/// (`holdLimit(times:)`). Before the first sample, a lead longer than H is unmonitored and a
/// shorter one is not counted; the last sample holds until the batch's end, at most H. A sample
/// whose time goes back (a clock step) holds for nothing. Times are taken to the millisecond,
/// as the MQTT contract carries them (`contractTime`), so both halves compute from equal numbers.
///
/// **Excursions.** An excursion is the time a value is outside its limits, whatever any alarm
/// made of it: outside the innermost range of the phase's limits (the alert limit on each side,
/// the action limit where there is none), or, for a flag or status with a discrete rule, in its
/// alarm condition. It starts at the first sample outside and ends where the values stop being
/// outside: at the next sample inside, at the end of the last outside sample's hold (an
/// unmonitored stretch follows), at a phase change, or at the batch's end (`openAtBatchEnd`).
/// Its worst value is the one furthest outside, its level `action` if any value lay beyond an
/// action limit, and its area the distance outside times the time each value held (a discrete
/// condition's area is its duration). Alarm on- and off-delays play no part: a spike shorter
/// than an on-delay is an excursion, and an alarm's off-delay does not lengthen one.
public enum BatchStatistics {
    /// The shortest hold, and the hold in median sampling intervals.
    public static let minimumHoldSeconds = 2.0
    public static let holdFactor = 3.0

    /// A time as the contract carries it: seconds since 1970, rounded to the millisecond as the
    /// site's encoder rounds it.
    public static func contractTime(nanosecondsSince1970 ns: Int64) -> Double {
        Double(Int64((Double(ns) / 1e9 * 1000).rounded())) / 1000
    }

    public static func contractTime(_ date: Date) -> Double {
        (date.timeIntervalSince1970 * 1000).rounded() / 1000
    }

    /// The hold limit H of a device's samples in a batch, from their times in order: three
    /// times the median of the positive intervals between consecutive samples, in whole
    /// milliseconds (the lower median for an even count), and at least two seconds.
    public static func holdLimit(times: [Double]) -> Double {
        var steps: [Int64] = []
        steps.reserveCapacity(max(0, times.count - 1))
        for (previous, next) in zip(times, times.dropFirst()) {
            let step = Int64(((next - previous) * 1000).rounded())
            if step > 0 { steps.append(step) }
        }
        guard !steps.isEmpty else { return minimumHoldSeconds }
        steps.sort()
        let median = Double(steps[(steps.count - 1) / 2]) / 1000
        return max(minimumHoldSeconds, holdFactor * median)
    }

    /// One value as the statistics see it: a number, a flag, or an enumerated status's label.
    public enum Observed: Sendable, Hashable {
        case number(Double)
        case flag(Bool)
        case label(String)
    }

    /// A parameter the statistics follow.
    public struct Track: Sendable, Hashable {
        public var parameter: String
        public var unit: String
        /// A measurement: minimum, maximum and means are computed (not for states, flags or status words).
        public var measured: Bool
        public init(parameter: String, unit: String = "", measured: Bool = true) {
            self.parameter = parameter
            self.unit = unit
            self.measured = measured
        }
    }
}
