import ComparabilityMethod
import ControlSiteRecords
import Foundation
import SVGPlot

/// A comparison report as a QA reviewer reads it: the verdict per site with its reasons, the
/// method and settings, per parameter the batch means against the quality range and the
/// trajectories against the reference envelope with each tier's numbers, the multivariate
/// check, and every batch with why it was or was not used.
enum ComparisonReportView {
    static func render(_ report: ComparisonReport) -> String {
        var body = "<p>\(HTML.escape(report.kind.rawValue.capitalized)) comparison of equipment model <b>\(HTML.escape(report.profile))</b>, "
            + "phase <b>\(HTML.escape(report.phase))</b>, spec \(HTML.escape(report.specDocument)) "
            + "(<code>\(HTML.escape(HTML.short(report.spec)))</code>), against the reference site <b>\(HTML.escape(report.reference))</b>; "
            + "generated \(HTML.escape(report.generated)).</p>"
        body += "<h2>Verdict</h2>" + HTML.table(["Site", "Batches", "Verdict", "Reasons"], report.judgements.map { j in
            [HTML.escape(j.site), String(j.batches), badge(j.verdict), j.reasons.map(HTML.escape).joined(separator: "<br>")]
        }, cssClass: "verdicts")
        body += "<div class=\"plots\">"
        for p in report.parameters { body += parameter(p, report: report) }
        body += "</div>"
        body += multivariate(report)
        body += method(report)
        body += batches(report)
        return body
    }

    static func badge(_ v: Verdict) -> String {
        HTML.badge(v.rawValue, v == .comparable ? "ok" : v == .notComparable ? "bad" : "warn")
    }

    static func n(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "-" }
        return HTML.escape(SVGText.number(x))
    }

    static func method(_ report: ComparisonReport) -> String {
        let s = report.settings
        var text = "<h2>Method</h2><p>Method <code>\(HTML.escape(report.methodVersion))</code>. The unit is the batch: each batch's "
            + "time-weighted mean of the phase, from the site's batch record. The reference is \(HTML.escape(report.reference))'s certified "
            + "batches (at least \(s.minimumReferenceBatches); certified means \(HTML.escape(report.certificationSource))). "
            + "<b>Tier 2</b>: each test batch's mean inside the quality range, reference mean ± k SD "
            + "(\(TieredAssessment.percent(s.qualityRangeRequiredShare)) of batches required; with one or two batches, all). "
            + "<b>Tier 1</b>: two one-sided tests (Welch) on the difference of means, margin = factor × reference SD, α = \(n(s.alpha)) "
            + "(\(TieredAssessment.percent(1 - 2 * s.alpha)) CI); it runs from \(s.minimumTier1Batches) test batches and only where its "
            + "power to show two identical sites equivalent is at least \(TieredAssessment.percent(s.requiredPower)). "
            + "<b>Tier 3</b>: each test batch's trajectory, \(trajectoryAxis(s)), against the "
            + "reference envelope (bucket mean ± k SD); the batch passes when its share of buckets inside reaches the threshold. "
            + "Batches from one split starting material are compared as pairs (mean difference within the margin). "
            + "Hotelling's T² checks each test batch's means of all parameters at once where the reference has more batches than "
            + "parameters. Every SD is at least its parameter's floor. Batches with more than "
            + "\(TieredAssessment.percent(s.maximumUnmonitoredShare)) of the phase unmonitored are excluded. "
            + (report.includeNonconforming ? "Nonconforming batches are shown for information (hollow points), never judged. "
               : "Nonconforming batches are excluded. ")
            + "The site's role: \(HTML.escape(report.roleSource)).</p>"
        text += HTML.table(["Parameter", "Tiers", "k (quality range)", "Margin", "SD floor", "Envelope"], report.parameters.map { p in
            [HTML.escape(p.name), p.settings.tiers.map(String.init).joined(separator: ", "), n(p.settings.k),
             "\(n(p.settings.marginFactor)) SD", "\(n(p.settings.floor.value)) \(HTML.escape(p.unit)) <span class=\"muted\">(\(HTML.escape(p.settings.floor.source)))</span>",
             "± \(n(p.settings.envelopeK)) SD, \(TieredAssessment.percent(p.settings.envelopeRequiredShare)) of buckets inside"]
        }, cssClass: "settings")
        return text
    }

    /// How the trajectories are aligned, in words: by time, or by the spec's progress variable and its rule.
    static func trajectoryAxis(_ s: MethodSettings) -> String {
        guard let a = s.alignment else { return "in buckets of \(n(s.bucketSeconds)) s since phase start" }
        return "aligned by the progress variable the spec names, <b>\(HTML.escape(a.parameter))</b>, in buckets of \(n(a.bucket)) "
            + "\(HTML.escape(a.unit)) from \(n(a.from)) (its means per \(n(s.bucketSeconds)) s since phase start, placed by "
            + "\(HTML.escape(a.nonMonotone)))"
    }

    static func parameter(_ p: ComparisonReport.Parameter, report: ComparisonReport) -> String {
        let judgements = report.judgements.compactMap { j in j.parameters.first { $0.parameter == p.name }.map { (site: j.site, judgement: $0) } }
        let reference = judgements.first?.judgement.reference
        let range = judgements.first { $0.judgement.qualityRange != nil }?.judgement.qualityRange
        let sites = [report.reference] + Set(report.batches.map(\.site)).subtracting([report.reference]).sorted()
        let columns = sites.map { site in
            BatchMeansPlot.Column(site: site, isReference: site == report.reference, points: report.batches.filter {
                $0.site == site && $0.status != .excluded
            }.compactMap { b in
                b.parameters.first { $0.parameter == p.name }?.mean.map { .init(label: "\(b.batch) (\(b.device))", value: $0, forInformation: b.status == .forInformation) }
            })
        }
        let limits = [("alert low", p.alertLow), ("alert high", p.alertHigh), ("action low", p.actionLow), ("action high", p.actionHigh)]
            .compactMap { name, v in v.map { (name: name, value: $0) } }
        var s = "<h2>\(HTML.escape(p.name))</h2>"
        s += BatchMeansPlot(parameter: p.name, unit: p.unit, columns: columns, qualityRange: range.map { ($0.low, $0.high) },
                            referenceMean: (reference?.batches ?? 0) > 0 ? reference?.mean : nil, limits: limits).svg()
        s += envelope(p, report: report, judgements: judgements.map(\.judgement))
        s += HTML.table(["Site", "Batches", "Mean", "Reference mean, SD (used)", "Quality range", "Inside", "Tier 1 power", "TOST difference [CI] / margin",
                         "Paired difference [CI]", "Envelope inside (largest departure)", "Verdict"], judgements.map { site, j in
            [HTML.escape(site), String(j.testBatches), n(j.testMean),
             "\(n(j.reference.mean)), \(n(j.reference.standardDeviation)) (\(n(j.reference.effectiveStandardDeviation))\(j.reference.floorApplied ? ", floor" : ""))",
             j.qualityRange.map { "\(n($0.low)) … \(n($0.high))" } ?? "-",
             j.qualityRange.map { TieredAssessment.percent($0.insideShare) } ?? "-",
             j.power.map(TieredAssessment.percent) ?? "-",
             j.equivalence.map { "\(n($0.difference)) [\(n($0.lower)), \(n($0.upper))] / ±\(n($0.margin))" } ?? "not run",
             j.paired.map { "\(n($0.meanDifference)) [\(n($0.lower)), \(n($0.upper))] over \($0.pairs) pairs" } ?? "-",
             j.envelope.map { "\(HTML.escape($0.batch)): \(TieredAssessment.percent($0.result.insideShare)) (\(n($0.result.largestDeparture)))" }
                .joined(separator: "<br>"),
             badge(j.verdict) + (j.reasons.isEmpty ? "" : "<br>" + j.reasons.map(HTML.escape).joined(separator: "<br>"))]
        }, cssClass: "comparison")
        return s
    }

    static func envelope(_ p: ComparisonReport.Parameter, report: ComparisonReport, judgements: [ParameterJudgement]) -> String {
        guard p.settings.applies(3) else { return "" }
        let reference = report.batches.filter { $0.site == report.reference && $0.status == .included }.compactMap { $0.trajectories[p.name] }
        let envelope = Envelope(reference: reference, k: p.settings.envelopeK, floor: p.settings.floor,
                                minimumBatches: report.settings.minimumReferenceBatches)
        let failed = Set(judgements.flatMap { $0.envelope.filter { !$0.result.passed }.map(\.batch) })
        let lines = report.batches.filter { $0.site != report.reference && $0.status != .excluded }.compactMap { b in
            b.trajectories[p.name].map { EnvelopePlot.Line(label: "\(b.site) \(b.batch)", values: $0, flagged: failed.contains(b.id)) }
        }
        guard !reference.isEmpty || !lines.isEmpty else { return "" }
        let axis = report.settings.alignment.map { EnvelopePlot.Axis(name: $0.parameter, unit: $0.unit, origin: $0.from, bucketWidth: $0.bucket) }
            ?? .time(bucketSeconds: report.settings.bucketSeconds)
        return EnvelopePlot(parameter: p.name, unit: p.unit, axis: axis,
                            envelope: envelope.buckets.map { $0.map { .init(low: $0.low, mean: $0.mean, high: $0.high) } }, lines: lines).svg()
    }

    static func multivariate(_ report: ComparisonReport) -> String {
        let rows = report.judgements.flatMap { j in
            j.multivariate.map { m in
                [HTML.escape(j.site), HTML.escape(m.batch), n(m.result?.tSquared), n(m.result?.critical),
                 m.result.map { "F(\($0.parameters.count), \($0.referenceBatches - $0.parameters.count)) = \(n($0.fCritical))" } ?? "-",
                 m.result.map { $0.outside ? HTML.badge("outside", "bad") : HTML.badge("inside", "ok") } ?? HTML.escape("not run: \(m.notRun ?? "")")]
            }
        }
        return "<h2>All parameters at once (Hotelling's T²)</h2>"
            + HTML.table(["Site", "Batch", "T²", "Critical value", "F quantile", "Result"], rows, cssClass: "hotelling")
    }

    static func batches(_ report: ComparisonReport) -> String {
        func rows(_ status: [ComparisonReport.Status]) -> [[String]] {
            report.batches.filter { status.contains($0.status) }.map { b in
                [HTML.escape(b.site), HTML.link("/batches/\(HTML.segment(b.site))/\(HTML.segment(b.batch))", b.batch), HTML.escape(b.device),
                 HTML.escape(b.role), HTML.escape(b.certifiedBy ?? "-"), HTML.escape(b.startingMaterial ?? "-"),
                 b.recordSeq.map { "\(HTML.escape(b.recordStream ?? "")) \($0) <code>\(HTML.escape(String((b.recordHash ?? "").prefix(12))))</code>" } ?? "-",
                 b.status == .included ? HTML.badge("included", "ok") : HTML.escape(b.status.rawValue) + ": " + b.reasons.map(HTML.escape).joined(separator: "<br>")]
                    + (report.settings.alignment == nil ? [] : [b.progressHeldBuckets.map { "\($0) time buckets" } ?? "-"])
            }
        }
        let headers = ["Site", "Batch", "Device", "Role", "Certified", "Starting material", "Site record (hash)", "Status"]
            + (report.settings.alignment.map { ["\(HTML.escape($0.parameter)) held at its running maximum"] } ?? [])
        return "<h2>Batches included</h2>" + HTML.table(headers, rows([.included]), cssClass: "included")
            + "<h2>Batches excluded or for information</h2>" + HTML.table(headers, rows([.excluded, .forInformation]), cssClass: "exclusions")
    }
}
