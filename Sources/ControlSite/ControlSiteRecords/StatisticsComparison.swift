import BatchStatistics
import POCareContract
import Foundation

/// The numbers of a site's batch record against the same numbers computed here from the
/// samples held: per phase and parameter the samples, the range of values, the time-weighted
/// mean and SD, monitored and unmonitored time and the time in each zone; and every excursion.
/// Both sides use `BatchStatistics` on equal times and values, so they agree to rounding.
struct StatisticsComparison {
    let record: BatchReport
    let held: BatchStatistics.Summary
    let limitsKnown: Bool

    /// Seconds: times are to the millisecond on both sides; sums of them agree far closer.
    static let secondsTolerance = 1e-6

    func differences() -> [String] {
        var found: [String] = []
        for phase in record.phases {
            for p in phase.parameters {
                let name = "\(phase.phase) \(p.parameter)"
                guard let h = held.phase(phase.phase)?.parameter(p.parameter) else {
                    if p.samples > 0 { found.append("\(name): the record has \(p.samples) values; the Control Site holds none") }
                    continue
                }
                found += compare(name, p, h)
            }
        }
        if limitsKnown { found += excursions() }
        return found
    }

    private func compare(_ name: String, _ p: BatchReport.ParameterSummary, _ h: BatchStatistics.ParameterSummary) -> [String] {
        var found: [String] = []
        if p.samples != h.samples {
            found.append("\(name): the record counts \(p.samples) values; the Control Site holds \(h.samples)")
        }
        let values: [(String, Double?, Double?)] = [
            ("lowest value", p.min, h.min), ("highest value", p.max, h.max),
            ("time-weighted mean", p.timeWeightedMean, h.timeWeightedMean), ("standard deviation", p.standardDeviation, h.standardDeviation),
        ]
        for (what, claimed, computed) in values {
            guard let claimed else { continue }
            guard let computed else {
                found.append("\(name): the record says \(what) \(number(claimed)); the Control Site holds no value")
                continue
            }
            if !Self.close(claimed, computed, tolerance: 1e-9 * max(1, abs(claimed), abs(computed))) {
                found.append("\(name): the record says \(what) \(number(claimed)); the samples held here give \(number(computed))")
            }
        }
        var times: [(String, Double?, Double?)] = [
            ("monitored", p.monitoredS, h.monitoredS), ("unmonitored", p.unmonitoredS, h.unmonitoredS),
        ]
        if limitsKnown { times += [("in range", p.inRangeS, h.inRangeS), ("in alert", p.alertS, h.alertS), ("in action", p.actionS, h.actionS)] }
        for (what, claimed, computed) in times {
            guard let claimed, let computed else { continue }
            if !Self.close(claimed, computed, tolerance: Self.secondsTolerance * max(1, claimed)) {
                found.append("\(name): the record says \(number(claimed)) s \(what); the samples held here give \(number(computed)) s")
            }
        }
        return found
    }

    /// Excursions by parameter and phase, in order: each the record lists must be one the data shows, and none missing.
    private func excursions() -> [String] {
        var found: [String] = []
        let recorded = record.excursions
        var computed = held.excursions
        for x in recorded {
            let parameter = x.parameter ?? x.alarm.split(separator: "/").dropFirst().first.map(String.init) ?? x.alarm
            guard let index = computed.firstIndex(where: { $0.parameter == parameter && $0.phase == x.phase && Self.time($0.start) == x.start })
            else {
                found.append("\(x.phase) \(parameter): the record lists an excursion from \(x.start) for \(number(x.durationS)) s; the samples held here show none then")
                continue
            }
            let e = computed.remove(at: index)
            if !Self.close(e.durationS, x.durationS, tolerance: Self.secondsTolerance * max(1, x.durationS)) || e.worstLevel != x.worstLevel
                || e.openAtBatchEnd != x.openAtBatchEnd {
                found.append("\(x.phase) \(parameter): the record's excursion from \(x.start) lasts \(number(x.durationS)) s at \(x.worstLevel); "
                             + "the samples held here give \(number(e.durationS)) s at \(e.worstLevel)")
            }
        }
        for e in computed {
            found.append("\(e.phase) \(e.parameter): the samples held here show an excursion from \(Self.time(e.start)) for \(number(e.durationS)) s "
                         + "(\(e.worstLevel)) that the record does not list")
        }
        return found
    }

    static func close(_ a: Double, _ b: Double, tolerance: Double) -> Bool { abs(a - b) <= tolerance }

    static func time(_ seconds: Double) -> String { Contract.format(Date(timeIntervalSince1970: seconds)) }

    private func number(_ x: Double) -> String {
        let rounded = (x * 10_000).rounded() / 10_000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }
}
