import Foundation

/// Each batch's mean of one parameter as a point, one column per site, over the reference
/// quality range drawn as a band, as a QA reviewer compares sites at a glance. The axis is
/// zoomed to the data and the band, so a difference the comparison flags is visible; a spec
/// limit is drawn where it falls inside that view.
public struct BatchMeansPlot: Sendable {
    public struct Point: Sendable, Equatable {
        public var label: String
        public var value: Double
        /// Drawn hollow: listed for information, not judged.
        public var forInformation: Bool
        public init(label: String, value: Double, forInformation: Bool = false) {
            self.label = label
            self.value = value
            self.forInformation = forInformation
        }
    }

    public struct Column: Sendable, Equatable {
        public var site: String
        public var isReference: Bool
        public var points: [Point]
        public init(site: String, isReference: Bool, points: [Point]) {
            self.site = site
            self.isReference = isReference
            self.points = points.filter { $0.value.isFinite }
        }
    }

    public var parameter: String
    public var unit: String
    public var columns: [Column]
    public var qualityRange: (low: Double, high: Double)?
    public var referenceMean: Double?
    /// Spec limits by name (`alert low`, `action high`, …).
    public var limits: [(name: String, value: Double)]
    public var width = 640.0
    public var height = 280.0

    public init(parameter: String, unit: String, columns: [Column], qualityRange: (low: Double, high: Double)?, referenceMean: Double?,
                limits: [(name: String, value: Double)]) {
        self.parameter = parameter
        self.unit = unit
        self.columns = columns
        self.qualityRange = qualityRange.flatMap { $0.low.isFinite && $0.high.isFinite ? $0 : nil }
        self.referenceMean = referenceMean.flatMap { $0.isFinite ? $0 : nil }
        self.limits = limits.filter { $0.value.isFinite }
    }

    /// The view: the points and the quality range, padded by a tenth of their span.
    public var domain: (low: Double, high: Double) {
        var values = columns.flatMap { $0.points.map(\.value) }
        if let q = qualityRange { values += [q.low, q.high] }
        guard var low = values.min(), var high = values.max() else { return (0, 1) }
        if high - low < 1e-12 * max(1, abs(high)) {
            low -= max(abs(low) * 1e-3, 1e-6)
            high += max(abs(high) * 1e-3, 1e-6)
        }
        let pad = (high - low) * 0.1
        return (low - pad, high + pad)
    }

    public func svg() -> String {
        let left = 70.0, right = 110.0, top = 28.0, bottom = 40.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let d = domain
        let y = LinearScale(domain: (d.low, d.high), range: (top + plotHeight, top))
        let c = SVGText.coordinate
        let id = SVGText.escape(parameter)
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="batch-means" data-parameter="\(id)" viewBox="0 0 \(c(width)) \(c(height))" \
            width="\(c(width))" height="\(c(height))" role="img" aria-label="\(id): batch means per site">
            <title>\(id) (\(SVGText.escape(unit))): batch means per site against the reference quality range</title>
            <rect x="\(c(left))" y="\(c(top))" width="\(c(plotWidth))" height="\(c(plotHeight))" fill="#fff" stroke="#888"/>

            """
        if let q = qualityRange {
            s += "<rect class=\"quality-range\" x=\"\(c(left))\" y=\"\(c(y(q.high)))\" width=\"\(c(plotWidth))\" "
                + "height=\"\(c(max(y(q.low) - y(q.high), 1)))\" fill=\"#dfe8f7\" stroke=\"#1f3b73\" stroke-dasharray=\"5 3\">"
                + "<title>reference quality range \(SVGText.number(q.low)) to \(SVGText.number(q.high))</title></rect>\n"
            s += "<text x=\"\(c(left + plotWidth + 6))\" y=\"\(c(y(q.high) + 4))\" font-size=\"10\">quality range</text>\n"
        }
        if let m = referenceMean {
            s += "<line class=\"reference-mean\" x1=\"\(c(left))\" x2=\"\(c(left + plotWidth))\" y1=\"\(c(y(m)))\" y2=\"\(c(y(m)))\" "
                + "stroke=\"#1f3b73\"/><text x=\"\(c(left + plotWidth + 6))\" y=\"\(c(y(m) + 4))\" font-size=\"10\">reference mean</text>\n"
        }
        for limit in limits where limit.value > d.low && limit.value < d.high {
            s += "<line class=\"spec-limit\" x1=\"\(c(left))\" x2=\"\(c(left + plotWidth))\" y1=\"\(c(y(limit.value)))\" y2=\"\(c(y(limit.value)))\" "
                + "stroke=\"#b00\" stroke-dasharray=\"2 2\"/><text x=\"\(c(left + plotWidth + 6))\" y=\"\(c(y(limit.value) + 4))\" "
                + "font-size=\"10\" fill=\"#b00\">\(SVGText.escape(limit.name)) \(SVGText.number(limit.value))</text>\n"
        }
        let slot = plotWidth / Double(max(columns.count, 1))
        for (i, column) in columns.enumerated() {
            let cx = left + slot * (Double(i) + 0.5)
            s += "<g class=\"site\" data-site=\"\(SVGText.escape(column.site))\">"
            for (j, p) in column.points.enumerated() {
                let offset = (Double(j % 7) - 3) * min(slot / 20, 6)
                let outside = qualityRange.map { p.value < $0.low || p.value > $0.high } ?? false
                let colour = column.isReference ? "#1f3b73" : outside ? "#b00" : "#222"
                let fill = p.forInformation ? "#fff" : colour
                s += "<circle class=\"batch-mean\" cx=\"\(c(cx + offset))\" cy=\"\(c(y(p.value)))\" r=\"4\" fill=\"\(fill)\" stroke=\"\(colour)\">"
                    + "<title>\(SVGText.escape(p.label)): \(SVGText.number(p.value))\(p.forInformation ? " (for information)" : "")</title></circle>"
            }
            s += "</g>\n<text x=\"\(c(cx))\" y=\"\(c(top + plotHeight + 16))\" font-size=\"11\" text-anchor=\"middle\">"
                + "\(SVGText.escape(column.site))\(column.isReference ? " (reference)" : "") n=\(column.points.filter { !$0.forInformation }.count)</text>\n"
        }
        for t in y.ticks(5) {
            s += "<text x=\"\(c(left - 6))\" y=\"\(c(y(t) + 4))\" font-size=\"11\" text-anchor=\"end\">\(SVGText.number(t))</text>"
        }
        s += "<text x=\"4\" y=\"16\" font-size=\"12\" font-weight=\"bold\">\(id)\(unit.isEmpty ? "" : " (\(SVGText.escape(unit)))"), "
            + "batch means against the reference quality range</text>\n</svg>"
        return s
    }
}
