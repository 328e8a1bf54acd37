import ControlSiteRecords
import Foundation
import POCareCore
import SVGPlot

/// The page of a running batch too long to read whole within a page's time: its trends and
/// per-phase figures from the minute rollups kept at ingest, so an operator or QA can follow a
/// batch of weeks while it runs. It is no review: excursions, unmonitored time, the site's
/// record and every signature wait for the batch's end, when the whole record is read.
enum RunningBatchPage {
    struct Data: Sendable {
        var trend: RunningBatchTrend
        var specs: [String: IPCSpec]
        var reason: String
    }

    static func load(site: String, batch: String, catalogue: SpecCatalogue, limits: BatchReviewPage.Limits, reason: String,
                     on connection: PostgresConnection) throws -> Data? {
        guard let trend = try RunningBatchTrend.load(site: site, batch: batch, stretches: limits.plotColumns / 2,
                                                     maxParameters: limits.maxParameters, on: connection) else { return nil }
        var specs: [String: IPCSpec] = [:]
        for fingerprint in Set(trend.devices.flatMap { $0.phases.map(\.spec) }) where !fingerprint.isEmpty {
            if let spec = try catalogue.spec(fingerprint, on: connection) { specs[fingerprint] = spec }
        }
        return Data(trend: trend, specs: specs, reason: reason)
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        let t = data.trend
        var body = "<p>" + BatchesPage.stateBadge("running", invalid: false) + "</p>"
        body += "<p class=\"notice running-trend\">The whole record of this batch is not read while it runs: \(HTML.escape(data.reason)). "
            + "Shown here are its minute rollups, kept as the samples arrive: per parameter the lowest and highest value of each stretch "
            + "of minutes, and per phase the samples, lowest, highest and time-weighted mean (each value held until the next sample, "
            + "at most a minute). Excursions, unmonitored time, the site's record and signatures wait for the batch's end, when its "
            + "record is read whole. `pocare-control batch \(HTML.escape(t.site)) \(HTML.escape(t.batch))` reads it now without a time limit.</p>"
        for device in t.devices {
            body += "<h3>\(HTML.escape(device.device))</h3><p>\(device.samples) samples, "
                + "\(HTML.escape(BatchStatisticsFormat.time(device.start))) to \(HTML.escape(BatchStatisticsFormat.time(device.end)))"
            if device.rolledUp < device.samples {
                body += " " + HTML.badge("\(device.rolledUp) of them in the rollups: the others were stored before rollups were kept", "warn")
            }
            body += "</p>"
            // The rollups' stretches of minutes, or every sample of a window of them.
            body += BatchWindowPage.zoomForm(site: t.site, batch: t.batch, devices: [device.device], device: device.device,
                                             from: max(device.start, device.end - 3600), to: device.end)
            if !device.parametersLeftOut.isEmpty {
                body += "<p class=\"notice\">\(device.parametersLeftOut.count) parameters beyond the page's \(device.parameters.count) are not shown: "
                    + HTML.escape(device.parametersLeftOut.prefix(20).joined(separator: ", ")) + "</p>"
            }
            body += "<div class=\"plots\">"
            for parameter in device.parameters {
                body += "<div class=\"parameter-trend\" data-trend=\"\(HTML.escape(parameter.name))\">" + plot(device, parameter, specs: data.specs)
                    + table(parameter) + "</div>"
            }
            body += "</div>"
        }
        return HTML.page(title: "Batch \(t.batch) at \(t.site) (running)", session: session, refreshSeconds: 60, body: body)
    }

    /// The stretches as a trend: each stretch's lowest then highest value, a break where no number
    /// was read well or no stretch was kept, against the bands of the phase in force.
    static func plot(_ device: RunningBatchTrend.Device, _ parameter: RunningBatchTrend.Parameter, specs: [String: IPCSpec]) -> String {
        var observations: [TrendPlot.Observation] = []
        var previousEnd: Double?
        for stretch in parameter.stretches {
            if let end = previousEnd, stretch.start > end { observations.append(.init(time: end, value: nil)) }
            if let lo = stretch.lo, let hi = stretch.hi {
                observations.append(.init(time: stretch.start, value: lo))
                observations.append(.init(time: (stretch.start + stretch.end) / 2, value: hi))
            } else {
                observations.append(.init(time: stretch.start, value: nil))
            }
            previousEnd = stretch.end
        }
        var unit = ""
        let sorted = device.phases.sorted { $0.first < $1.first }
        let phases = sorted.enumerated().map { i, run -> TrendPlot.Phase in
            let limits = specs[run.spec]?.phase(run.phase)?.limits(for: parameter.name)
            if let l = limits, !l.unit.isEmpty, unit.isEmpty { unit = l.unit }
            let end = i + 1 < sorted.count ? sorted[i + 1].first : run.last
            return TrendPlot.Phase(name: run.phase.isEmpty ? "(no phase)" : run.phase, start: run.first, end: max(end, run.first),
                                   limits: limits.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) })
        }
        var plot = TrendPlot(parameter: parameter.name, unit: unit, observations: observations, phases: phases, markers: [])
        // Drawn as given: the line breaks only where a break is put. Excursions and unmonitored
        // time are the record's, read when the batch has ended, not guessed from stretches.
        plot.givenExcursions = []
        plot.givenUnmonitored = []
        return plot.svg()
    }

    static func table(_ parameter: RunningBatchTrend.Parameter) -> String {
        HTML.table(["Phase", "Samples", "Read well", "Min", "Max", "Mean (time)"], parameter.phases.map { p in
            [HTML.escape(p.phase.isEmpty ? "(no phase)" : p.phase), "\(p.samples)", "\(p.readWell)", number(p.lo), number(p.hi), number(p.mean)]
        }, cssClass: "statistics")
    }

    static func number(_ value: Double?) -> String { value.map { HTML.escape(BatchStatisticsFormat.number($0)) } ?? "-" }
}
