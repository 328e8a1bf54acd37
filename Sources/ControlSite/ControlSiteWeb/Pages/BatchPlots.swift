import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareCore
import SVGPlot

/// A plot for every parameter of a batch, whatever its values: measurements as trends against
/// the bands of the phase in force, with the excursions and unmonitored stretches of the one
/// rule (`BatchStatistics`); flags, states and labels as strips of their labels; and a note
/// where no value was read well or every value lies outside its band.
enum BatchPlots {
    /// Per device, per parameter: its trend over the batch (statistics go beside it).
    static func plots(_ data: BatchReviewPage.Data) -> [(device: String, parameter: String, svg: String)] {
        var out: [(String, String, String)] = []
        for device in data.record.statistics {
            let summary = device.summary
            let specByPhase = Dictionary(data.record.phases.filter { $0.device == device.device }.map { ($0.phase, $0.spec) },
                                         uniquingKeysWith: { a, _ in a })
            let runs = phaseRuns(data.record.phases.filter { $0.device == device.device }, start: summary.start, end: summary.end)
            for series in device.series {
                let parameter = series.parameter
                var unit = series.unit
                let phases = runs.map { run -> TrendPlot.Phase in
                    let limits = specByPhase[run.name].flatMap { $0 }.flatMap { data.specs[$0] }?.phase(run.name)?.limits(for: parameter)
                    if let l = limits, !l.unit.isEmpty, unit.isEmpty { unit = l.unit }
                    return TrendPlot.Phase(
                        name: run.name.isEmpty ? "(no phase)" : run.name, start: run.start, end: run.end,
                        limits: limits.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) })
                }
                let observations = zip(series.times, series.values).map { TrendPlot.Observation(time: $0, value: $1) }
                var plot = TrendPlot(parameter: parameter, unit: unit, observations: observations, phases: phases,
                                     markers: markers(data, device: device.device, parameter: parameter))
                plot.givenExcursions = summary.excursions.filter { $0.parameter == parameter }.map { .init(start: $0.start, end: $0.end) }
                plot.givenUnmonitored = (summary.parameterUnmonitored[parameter] ?? []).map { .init(start: $0.from, end: $0.to) }
                let said = note(plot, observations, parameter).map { "<p class=\"notice plot-note\">\(HTML.escape($0))</p>" } ?? ""
                out.append((device.device, parameter, plot.svg() + said))
            }
        }
        return out
    }

    /// Said under a plot where the picture alone could mislead.
    static func note(_ plot: TrendPlot, _ observations: [TrendPlot.Observation], _ parameter: String) -> String? {
        let good = observations.compactMap(\.value)
        if good.isEmpty { return "No value of \(parameter) was read well in this batch: nothing to draw." }
        guard !plot.phases.contains(where: { $0.limits == nil }) else { return nil }
        let outside = observations.allSatisfy { o in o.value.map { v in plot.limits(at: o.time)?.isExcursion(v) ?? false } ?? true }
        return outside ? "Every value of \(parameter) read in this batch lies outside its alert range." : nil
    }

    /// The discrete and enumerated parameters, a strip of labels each.
    static func stateStrips(_ data: BatchReviewPage.Data) -> String {
        guard !data.labels.isEmpty else { return "" }
        var s = "<h3>States and labels</h3><div class=\"plots states\">"
        for series in data.labels {
            var observations = series.changes.map { StatePlot.Observation(time: $0.time, label: $0.label) }
            if let last = series.changes.last, series.end > last.time { observations.append(.init(time: series.end, label: last.label)) }
            s += "<h4>\(HTML.escape(series.device))</h4>" + StatePlot(parameter: series.parameter, observations: observations).svg()
            if series.changes.allSatisfy({ $0.label == nil }) {
                s += "<p class=\"notice plot-note\">No value of \(HTML.escape(series.parameter)) was read well in this batch.</p>"
            }
            if series.truncated { s += "<p class=\"notice plot-note\">\(HTML.escape(series.parameter)) changed more often than the page draws.</p>" }
        }
        return s + "</div>"
    }

    /// The phase runs of a device, from its batch_runs rows (first and last sample of each phase).
    static func phaseRuns(_ rows: [BatchRecord.Phase], start: Double, end: Double) -> [(name: String, start: Double, end: Double)] {
        let sorted = rows.compactMap { row -> (String, Double, Double)? in
            guard let first = BatchReviewPage.isoSeconds(row.first), let last = BatchReviewPage.isoSeconds(row.last) else { return nil }
            return (row.phase, first, last)
        }.sorted { $0.1 < $1.1 }
        var runs: [(name: String, start: Double, end: Double)] = []
        for (i, row) in sorted.enumerated() {
            let next = i + 1 < sorted.count ? sorted[i + 1].1 : max(end, row.2)
            runs.append((row.0, i == 0 ? min(start, row.1) : row.1, next))
        }
        return runs
    }

    /// Alarm transitions as markers, who and why in words; excursions are shaded, not marked.
    static func markers(_ data: BatchReviewPage.Data, device: String, parameter: String) -> [TrendPlot.Marker] {
        data.record.events.filter { $0.stream.hasPrefix(device + "/") && $0.kind != "excursion" }.compactMap { e -> TrendPlot.Marker? in
            // An event whose body is not a JSON object is drawn without its details, never left out.
            let body = (try? JSONSerialization.jsonObject(with: Foundation.Data(e.detail.utf8))) as? [String: Any] ?? [:]
            guard let alarm = body["alarm"] as? String, alarm.split(separator: "/").dropFirst().first.map(String.init) == parameter,
                  let time = BatchReviewPage.isoSeconds(e.time)
            else { return nil }
            return TrendPlot.Marker(kind: e.kind, time: time, title: "\(e.kind) \(e.time): \(EventText.describe(kind: e.kind, body: e.detail))")
        }
    }
}
