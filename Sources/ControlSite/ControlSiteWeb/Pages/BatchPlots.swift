import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareCore
import SVGPlot

/// A plot for every parameter of a batch, whatever its values: numbers as trends against the
/// bands of the phase in force with the record's excursions shaded; flags and labels as state
/// strips; and a note where no value was read well or every value lies outside the band.
enum BatchPlots {
    struct Plot {
        var device: String
        var parameter: String
        var svg: String
        /// Said under the plot where the picture alone could mislead.
        var note: String?
    }

    static func plots(_ data: BatchReviewPage.Data) -> [Plot] {
        var out: [Plot] = []
        for device in data.samples {
            let runs = phaseRuns(device)
            let specByPhase = Dictionary(data.review.record.phases.filter { $0.device == device.device }.map { ($0.phase, $0.spec) },
                                         uniquingKeysWith: { a, _ in a })
            for parameter in device.values.keys.sorted() {
                out.append(trend(device, parameter, runs: runs, specByPhase: specByPhase, data: data))
            }
            for parameter in device.labels.keys.sorted() {
                let observations = zip(device.times, device.labels[parameter] ?? []).map { StatePlot.Observation(time: $0, label: $1) }
                let read = observations.filter { $0.label != nil }.count
                out.append(Plot(device: device.device, parameter: parameter, svg: StatePlot(parameter: parameter, observations: observations).svg(),
                                note: read == 0 ? "No value of \(parameter) was read well in this batch (\(observations.count) samples)." : nil))
            }
            for parameter in device.neverRead.sorted() {
                out.append(Plot(device: device.device, parameter: parameter, svg: "",
                                note: "\(parameter): the samples carry no value of a type that can be drawn."))
            }
        }
        return out
    }

    /// Phases as the samples ran them: a new phase starts where the samples' phase changes.
    static func phaseRuns(_ device: PageQueries.DeviceSamples) -> [(name: String, start: Double, end: Double)] {
        var runs: [(name: String, start: Double, end: Double)] = []
        for (t, p) in zip(device.times, device.phases) {
            if let last = runs.last, last.name == p { runs[runs.count - 1].end = t } else {
                if !runs.isEmpty { runs[runs.count - 1].end = t }
                runs.append((p, t, t))
            }
        }
        return runs
    }

    static func trend(_ device: PageQueries.DeviceSamples, _ parameter: String, runs: [(name: String, start: Double, end: Double)],
                      specByPhase: [String: String?], data: BatchReviewPage.Data) -> Plot {
        var unit = ""
        let phases = runs.map { run -> TrendPlot.Phase in
            let limits = specByPhase[run.name].flatMap { $0 }.flatMap { data.specs[$0] }?.phase(run.name)?.limits(for: parameter)
            if let l = limits, !l.unit.isEmpty { unit = l.unit }
            return TrendPlot.Phase(
                name: run.name.isEmpty ? "(no phase)" : run.name, start: run.start, end: run.end,
                limits: limits.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) })
        }
        // Alarm transitions as markers; excursions are shaded, not marked.
        let markers = data.review.record.events.filter { $0.stream.hasPrefix(device.device + "/") && $0.kind != "excursion" }.compactMap { e -> TrendPlot.Marker? in
            let body = (try? JSONSerialization.jsonObject(with: Foundation.Data(e.detail.utf8))) as? [String: Any] ?? [:]
            guard let alarm = body["alarm"] as? String, alarm.split(separator: "/").dropFirst().first.map(String.init) == parameter,
                  let time = BatchReviewPage.isoSeconds(e.time)
            else { return nil }
            return TrendPlot.Marker(kind: e.kind, time: time, title: "\(e.kind) \(e.time): \(EventText.describe(kind: e.kind, body: e.detail))")
        }
        let observations = zip(device.times, device.values[parameter] ?? []).map { TrendPlot.Observation(time: $0, value: $1) }
        var plot = TrendPlot(parameter: parameter, unit: unit, observations: observations, phases: phases, markers: markers)
        // The excursions the batch's record defines for this parameter, not a rule of the plot's own.
        plot.recordedExcursions = data.review.excursions.filter { x in
            x.device == device.device && x.alarm.split(separator: "/").dropFirst().first.map(String.init) == parameter
        }.compactMap { x in
            guard let start = BatchReviewPage.isoSeconds(x.start), let end = BatchReviewPage.isoSeconds(x.end) else { return nil }
            return TrendPlot.Interval(start: start, end: end)
        }
        let good = observations.compactMap(\.value)
        var note: String?
        if good.isEmpty {
            note = "No value of \(parameter) was read well in this batch (\(observations.count) samples): nothing to draw."
        } else if !phases.contains(where: { $0.limits == nil }),
                  observations.allSatisfy({ o in o.value.map { v in plot.limits(at: o.time)?.isExcursion(v) ?? false } ?? true }) {
            note = "Every value of \(parameter) read in this batch lies outside its alert range."
        }
        return Plot(device: device.device, parameter: parameter, svg: plot.svg(), note: note)
    }
}
