import ControlSiteRecords
import Foundation
import POCareCore
import SVGPlot

/// A batch zoomed in: one device's samples within a stretch of time, read from the records
/// themselves (`BatchWindow`), where the batch's own page draws its minute rollups (a running
/// batch of weeks) or values thinned to the page's width. Per parameter a trend against the
/// bands of the phase in force, and per phase the figures of the window's samples alone.
enum BatchWindowPage {
    struct Data: Sendable {
        var site: String
        var batch: String
        var reading: BatchWindow.Reading
        var specs: [String: IPCSpec]
    }

    static func load(site: String, batch: String, device: String, from start: Double, to end: Double, catalogue: SpecCatalogue,
                     limits: BatchSeriesReader.Limits, budget: DatabaseWorkers.Budget, on connection: PostgresConnection) throws -> Data? {
        guard let reading = try BatchWindow.load(connection, site: site, batch: batch, device: device, from: start, to: end,
                                                 specs: { try catalogue.spec($0, on: connection) }, limits: limits,
                                                 checkpoint: { try budget.check() }) else { return nil }
        var specs: [String: IPCSpec] = [:]
        for fingerprint in Set(reading.phases.map(\.spec)) where !fingerprint.isEmpty {
            if let spec = try catalogue.spec(fingerprint, on: connection) { specs[fingerprint] = spec }
        }
        return Data(site: site, batch: batch, reading: reading, specs: specs)
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        let r = data.reading, statistics = r.statistics
        let from = BatchStatisticsFormat.time(r.start), to = BatchStatisticsFormat.time(r.end)
        var body = "<p><a href=\"\(path(data.site, data.batch))\">Batch \(HTML.escape(data.batch)) at \(HTML.escape(data.site))</a></p>"
        body += "<p class=\"window-summary\">\(HTML.escape(r.device)): <strong>\(statistics.samples) samples</strong> from "
            + "\(HTML.escape(from)) to \(HTML.escape(to)), each read from the stored records.</p>"
        if statistics.oversizedSamples > 0 {
            body += "<p class=\"notice\">\(statistics.oversizedSamples) samples were larger than a page reads (web: page_max_sample_bytes) and are counted, not drawn.</p>"
        }
        if !statistics.parametersLeftOut.isEmpty {
            body += "<p class=\"notice\">\(statistics.parametersLeftOut.count) parameters beyond the page's are not shown: "
                + HTML.escape(statistics.parametersLeftOut.prefix(20).joined(separator: ", ")) + "</p>"
        }
        if statistics.samples == 0 { body += "<p class=\"notice\">No sample of \(HTML.escape(r.device)) in this batch was taken in the window.</p>" }
        body += zoomForm(site: data.site, batch: data.batch, devices: [r.device], device: r.device, from: r.start, to: r.end)
        body += "<div class=\"plots\">"
        for series in statistics.series {
            body += "<div class=\"parameter-window\" data-window=\"\(HTML.escape(series.parameter))\">" + plot(series, data) + table(series.parameter, statistics) + "</div>"
        }
        return HTML.page(title: "Batch \(data.batch) at \(data.site): \(r.device), \(from) to \(to)", session: session, body: body + "</div>")
    }

    /// The window's values against the bands of the phase in force.
    static func plot(_ series: PlotSeries, _ data: Data) -> String {
        let r = data.reading
        var unit = series.unit
        let runs = r.phases.sorted { $0.first < $1.first }
        let phases = runs.enumerated().map { i, run -> TrendPlot.Phase in
            let limits = data.specs[run.spec]?.phase(run.phase)?.limits(for: series.parameter)
            if let l = limits, !l.unit.isEmpty, unit.isEmpty { unit = l.unit }
            let next = i + 1 < runs.count ? runs[i + 1].first : r.end
            return TrendPlot.Phase(name: run.phase.isEmpty ? "(no phase)" : run.phase, start: max(run.first, r.start), end: min(max(next, run.first), r.end),
                                   limits: limits.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) })
        }
        let observations = zip(series.times, series.values).map { TrendPlot.Observation(time: $0, value: $1) }
        var plot = TrendPlot(parameter: series.parameter, unit: unit, observations: observations, phases: phases, markers: [])
        plot.givenExcursions = r.statistics.summary.excursions.filter { $0.parameter == series.parameter }.map { .init(start: $0.start, end: $0.end) }
        plot.givenUnmonitored = (r.statistics.summary.parameterUnmonitored[series.parameter] ?? []).map { .init(start: $0.from, end: $0.to) }
        return plot.svg()
    }

    /// Per phase: the window's samples of the parameter, read well, lowest, highest, time-weighted mean.
    static func table(_ parameter: String, _ statistics: DeviceBatchStatistics) -> String {
        let rows = statistics.summary.phases.compactMap { phase -> [String]? in
            guard let p = phase.parameters.first(where: { $0.parameter == parameter }) else { return nil }
            return [HTML.escape(phase.phase == "-" || phase.phase.isEmpty ? "(no phase)" : phase.phase), "\(p.samples)",
                    number(p.min), number(p.max), number(p.timeWeightedMean)]
        }
        return HTML.table(["Phase", "Samples", "Min", "Max", "Mean (time)"], rows, cssClass: "statistics")
    }

    static func number(_ value: Double?) -> String { value.map { HTML.escape(BatchStatisticsFormat.number($0)) } ?? "-" }

    static func path(_ site: String, _ batch: String) -> String {
        "/batches/\(HTML.segment(site))/\(HTML.segment(batch))"
    }

    /// A form to zoom in on a device's samples: a GET of the window page, so the address can be
    /// kept and sent to another reviewer.
    static func zoomForm(site: String, batch: String, devices: [String], device chosen: String? = nil, from: Double, to: Double) -> String {
        guard !devices.isEmpty else { return "" }
        let options = devices.map { d in
            "<option value=\"\(HTML.escape(d))\"\(d == chosen ? " selected" : "")>\(HTML.escape(d))</option>"
        }.joined()
        return "<form class=\"zoom\" method=\"get\" action=\"\(path(site, batch))/window\">"
            + "<label>Samples of <select name=\"device\">\(options)</select></label> "
            + "<label>from <input name=\"from\" value=\"\(HTML.escape(BatchStatisticsFormat.time(from)))\" size=\"26\"></label> "
            + "<label>to <input name=\"to\" value=\"\(HTML.escape(BatchStatisticsFormat.time(to)))\" size=\"26\"></label> "
            + "<button type=\"submit\">Show every sample</button></form>"
    }
}
