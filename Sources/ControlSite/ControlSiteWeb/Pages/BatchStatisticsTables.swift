import BatchStatistics
import ControlSiteRecords
import Foundation

/// The batch page's trends with each parameter's statistics beside its plot, and the
/// excursions, as `BatchStatistics` found them in the samples held here.
enum BatchStatisticsTables {
    static func trends(_ data: BatchReviewPage.Data, plots: [(device: String, parameter: String, svg: String)]) -> String {
        var body = ""
        for device in data.record.statistics {
            let s = device.summary
            body += "<h3>\(HTML.escape(device.device))</h3><p>"
            body += "\(device.samples) samples, \(HTML.escape(BatchStatisticsFormat.time(s.start))) to \(HTML.escape(BatchStatisticsFormat.time(s.end)))"
            if !device.ended { body += " " + HTML.badge("the batch's end has not arrived: up to the last sample", "warn") }
            body += " · hold limit \(HTML.escape(BatchStatisticsFormat.number(s.holdLimitS))) s · unmonitored "
            body += s.unmonitoredS > 0 ? HTML.badge("\(BatchStatisticsFormat.number(s.unmonitoredS)) s", "bad") : "none"
            body += "</p>"
            if !device.limitsKnown {
                body += "<p class=\"notice\">The limits of spec \(HTML.escape(HTML.short(device.spec))) are not held here (not released, "
                    + "and not published by the site): no bands, time in range or excursions.</p>"
            }
            if device.oversizedSamples > 0 {
                body += "<p class=\"notice oversized\">\(device.oversizedSamples) samples carry values larger than "
                    + "\(data.limits.maxSampleBytes / 1024) KiB, beyond what the contract allows a telemetry message: they are counted "
                    + "as unmonitored and not read.</p>"
            }
            if !device.parametersLeftOut.isEmpty {
                body += "<p class=\"notice\">\(device.parametersLeftOut.count) parameters beyond the page's \(data.limits.maxParameters) "
                    + "are not shown: \(HTML.escape(device.parametersLeftOut.prefix(20).joined(separator: ", ")))"
                    + "\(device.parametersLeftOut.count > 20 ? ", …" : "").</p>"
            }
            body += "<div class=\"plots\">"
            for plot in plots where plot.device == device.device {
                body += "<div class=\"parameter-trend\" data-trend=\"\(HTML.escape(plot.parameter))\">" + plot.svg
                    + statistics(s, parameter: plot.parameter) + "</div>"
            }
            body += "</div>"
        }
        return body
    }

    /// One parameter's statistics, a row per phase.
    static func statistics(_ s: BatchStatistics.Summary, parameter: String) -> String {
        let rows = s.phases.compactMap { phase -> [String]? in
            guard let p = phase.parameter(parameter) else { return nil }
            return [HTML.escape(phase.phase), text(p.timeWeightedMean), text(p.standardDeviation), text(p.min), text(p.max),
                    percent(p.inRangeShare), percent(p.alertShare), percent(p.actionShare),
                    p.unmonitoredShare > 0 ? HTML.badge(percent(p.unmonitoredShare), "bad") : "0 %",
                    p.limited ? "\(p.excursions) (\(BatchStatisticsFormat.number(p.excursionS)) s)" : "-"]
        }
        return HTML.table(["Phase", "Mean (time)", "SD", "Min", "Max", "In range", "Alert", "Action", "Unmonitored", "Excursions"], rows,
                          cssClass: "statistics")
    }

    static func excursions(_ devices: [DeviceBatchStatistics]) -> String {
        let rows = devices.flatMap { d in
            d.summary.excursions.map { e in
                [HTML.escape(d.device), HTML.escape(e.parameter), HTML.escape(e.phase), HTML.escape(BatchStatisticsFormat.time(e.start)),
                 HTML.escape(BatchStatisticsFormat.time(e.end)), "\(BatchStatisticsFormat.number(e.durationS)) s",
                 HTML.escape(e.worstLabel ?? BatchStatisticsFormat.number(e.worstValue)), HTML.badge(e.worstLevel, e.worstLevel == "action" ? "bad" : "warn"),
                 BatchStatisticsFormat.number(e.areaOutside), e.openAtBatchEnd ? HTML.badge("open at batch end", "bad") : ""]
            }
        }
        return "<p class=\"muted\">The time each value was outside its limits, from the samples: alarm delays play no part (the alarms are below).</p>"
            + HTML.table(["Device", "Parameter", "Phase", "Start (UTC)", "End (UTC)", "Duration", "Worst", "Level", "Area outside", ""], rows,
                         cssClass: "excursions")
    }

    static func text(_ x: Double?) -> String { x.map { HTML.escape(BatchStatisticsFormat.number($0)) } ?? "-" }
    static func percent(_ share: Double?) -> String { share.map { String(format: "%.1f %%", $0 * 100) } ?? "-" }
}
