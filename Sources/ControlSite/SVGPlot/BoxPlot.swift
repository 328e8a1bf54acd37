import Foundation

/// Each site's distribution of batch means of one parameter beside the reference site's, with
/// the phase's alert and action limits and the reference quality range, as QA compares sites.
/// Every batch mean is also drawn as a dot, so a site with three batches is not mistaken for
/// one with thirty.
public struct BoxPlot: Sendable {
    public struct Group: Sendable, Equatable {
        public var label: String
        public var values: [Double]
        public var isReference: Bool
        public var flagged: Bool
        public init(label: String, values: [Double], isReference: Bool, flagged: Bool) {
            self.label = label
            self.values = values.filter(\.isFinite).sorted()
            self.isReference = isReference
            self.flagged = flagged
        }
    }

    public struct Summary: Sendable, Equatable {
        public var minimum, lowerQuartile, median, upperQuartile, maximum: Double
    }

    public var parameter: String
    public var unit: String
    public var groups: [Group]
    public var limits: TrendPlot.Limits?
    public var qualityRange: (low: Double, high: Double)?
    public var width = 640.0
    public var height = 260.0

    public init(parameter: String, unit: String, groups: [Group], limits: TrendPlot.Limits?, qualityRange: (low: Double, high: Double)?) {
        self.parameter = parameter
        self.unit = unit
        self.groups = groups
        self.limits = limits
        self.qualityRange = qualityRange
    }

    /// Quartiles by linear interpolation between order statistics (type 7, as R and NumPy).
    public static func summary(_ sorted: [Double]) -> Summary? {
        guard let first = sorted.first, let last = sorted.last else { return nil }
        func quantile(_ p: Double) -> Double {
            let h = Double(sorted.count - 1) * p
            let i = Int(h.rounded(.down))
            return i + 1 < sorted.count ? sorted[i] + (h - Double(i)) * (sorted[i + 1] - sorted[i]) : sorted[i]
        }
        return Summary(minimum: first, lowerQuartile: quantile(0.25), median: quantile(0.5), upperQuartile: quantile(0.75), maximum: last)
    }

    public func svg() -> String {
        let left = 64.0, right = 16.0, top = 24.0, bottom = 40.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        var all = groups.flatMap(\.values) + (limits?.values ?? [])
        if let q = qualityRange { all += [q.low, q.high] }
        var low = all.filter(\.isFinite).min() ?? 0, high = all.filter(\.isFinite).max() ?? 1
        if high - low < 1e-9 { low -= 1; high += 1 }
        let pad = (high - low) * 0.08
        low -= pad
        high += pad
        let y = LinearScale(domain: (low, high), range: (top + plotHeight, top))
        let c = SVGText.coordinate
        let id = SVGText.escape(parameter)
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="box-plot" data-parameter="\(id)" viewBox="0 0 \(c(width)) \(c(height))" \
            width="\(c(width))" height="\(c(height))" role="img" aria-label="\(id): batch means per site">
            <title>\(id) (\(SVGText.escape(unit))): batch means per site</title>
            <rect x="\(c(left))" y="\(c(top))" width="\(c(plotWidth))" height="\(c(plotHeight))" fill="#fff" stroke="#888"/>

            """
        if let l = limits {
            func band(_ cls: String, _ from: Double, _ to: Double, _ fill: String) {
                let ya = y(max(from, low)), yb = y(min(to, high))
                guard ya > yb else { return }
                s += "<rect class=\"\(cls)\" x=\"\(c(left))\" y=\"\(c(yb))\" width=\"\(c(plotWidth))\" height=\"\(c(ya - yb))\" fill=\"\(fill)\"/>"
            }
            band("band-in-range", l.alertLow ?? l.actionLow ?? low, l.alertHigh ?? l.actionHigh ?? high, "#e3f2e1")
            if let a = l.alertLow { band("band-alert", l.actionLow ?? low, a, "#fff1c9") }
            if let a = l.alertHigh { band("band-alert", a, l.actionHigh ?? high, "#fff1c9") }
            if let a = l.actionLow { band("band-action", low, a, "#f8d0cc") }
            if let a = l.actionHigh { band("band-action", a, high, "#f8d0cc") }
            s += "\n"
        }
        if let q = qualityRange, q.low.isFinite, q.high.isFinite {
            s += "<rect class=\"quality-range\" x=\"\(c(left))\" y=\"\(c(y(q.high)))\" width=\"\(c(plotWidth))\" height=\"\(c(max(y(q.low) - y(q.high), 1)))\" "
                + "fill=\"none\" stroke=\"#1f3b73\" stroke-dasharray=\"5 3\"><title>quality range \(SVGText.number(q.low)) to \(SVGText.number(q.high))</title></rect>\n"
        }
        let slot = plotWidth / Double(max(groups.count, 1))
        for (i, g) in groups.enumerated() {
            let cx = left + slot * (Double(i) + 0.5), half = min(slot * 0.3, 40)
            s += "<g class=\"box\" data-site=\"\(SVGText.escape(g.label))\"><title>\(SVGText.escape(g.label)): \(g.values.count) batches"
            if let m = Self.summary(g.values) {
                s += ", median \(SVGText.number(m.median)), quartiles \(SVGText.number(m.lowerQuartile)) to \(SVGText.number(m.upperQuartile))"
                    + ", range \(SVGText.number(m.minimum)) to \(SVGText.number(m.maximum))</title>"
                let stroke = g.flagged ? "#b00" : "#222"
                let fill = g.isReference ? "#c9d6ee" : g.flagged ? "#f3c1bd" : "#eee"
                s += "<line x1=\"\(c(cx))\" x2=\"\(c(cx))\" y1=\"\(c(y(m.minimum)))\" y2=\"\(c(y(m.maximum)))\" stroke=\"\(stroke)\"/>"
                for v in [m.minimum, m.maximum] {
                    s += "<line x1=\"\(c(cx - half / 2))\" x2=\"\(c(cx + half / 2))\" y1=\"\(c(y(v)))\" y2=\"\(c(y(v)))\" stroke=\"\(stroke)\"/>"
                }
                s += "<rect x=\"\(c(cx - half))\" y=\"\(c(y(m.upperQuartile)))\" width=\"\(c(2 * half))\" "
                    + "height=\"\(c(max(y(m.lowerQuartile) - y(m.upperQuartile), 1)))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1.5\"/>"
                s += "<line class=\"median\" x1=\"\(c(cx - half))\" x2=\"\(c(cx + half))\" y1=\"\(c(y(m.median)))\" y2=\"\(c(y(m.median)))\" stroke=\"\(stroke)\" stroke-width=\"2.5\"/>"
                for (j, v) in g.values.enumerated() {
                    let jitter = (Double(j % 5) - 2) * half / 5
                    s += "<circle class=\"batch-mean\" cx=\"\(c(cx + half + 8 + jitter / 2))\" cy=\"\(c(y(v)))\" r=\"2\" fill=\"#333\"/>"
                }
            } else {
                s += "</title>"
            }
            s += "</g>\n"
            let label = SVGText.escape(g.label) + (g.isReference ? " (ref)" : g.flagged ? " FLAGGED" : "")
            s += "<text x=\"\(c(cx))\" y=\"\(c(top + plotHeight + 16))\" font-size=\"11\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for t in y.ticks(5) {
            s += "<text x=\"\(c(left - 6))\" y=\"\(c(y(t) + 4))\" font-size=\"11\" text-anchor=\"end\">\(SVGText.number(t))</text>"
        }
        s += "<text x=\"4\" y=\"16\" font-size=\"12\" font-weight=\"bold\">\(id)\(unit.isEmpty ? "" : " (\(SVGText.escape(unit)))"), batch means</text>\n</svg>"
        return s
    }
}
