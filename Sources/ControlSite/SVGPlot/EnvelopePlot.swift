import Foundation

/// One parameter's trajectory since phase start, or along the progress variable the spec
/// aligns the phase by: the reference envelope (mean ± k SD per bucket) shaded, the reference
/// mean dashed, each test batch drawn over it. A bucket the reference does not cover breaks the
/// envelope; a bucket without a value breaks the line.
public struct EnvelopePlot: Sendable {
    /// What the x axis counts: time since phase start in seconds, or a progress variable's value.
    public struct Axis: Sendable, Equatable {
        /// The axis title, such as "time since phase start" or "viable_cell_density".
        public var name: String
        public var unit: String
        /// The value where bucket 0 starts, and one bucket's width.
        public var origin: Double
        public var bucketWidth: Double
        public init(name: String, unit: String, origin: Double, bucketWidth: Double) {
            self.name = name
            self.unit = unit
            self.origin = origin
            self.bucketWidth = bucketWidth
        }

        public static func time(bucketSeconds: Double) -> Axis {
            Axis(name: "time since phase start", unit: "s", origin: 0, bucketWidth: bucketSeconds)
        }
    }

    public struct Band: Sendable, Equatable {
        public var low: Double
        public var mean: Double
        public var high: Double
        public init(low: Double, mean: Double, high: Double) {
            self.low = low
            self.mean = mean
            self.high = high
        }
    }

    public struct Line: Sendable, Equatable {
        public var label: String
        public var values: [Double?]
        public var flagged: Bool
        public init(label: String, values: [Double?], flagged: Bool) {
            self.label = label
            self.values = values
            self.flagged = flagged
        }
    }

    public var parameter: String
    public var unit: String
    public var axis: Axis
    public var bucketSeconds: Double { axis.bucketWidth }
    /// Per bucket from 0; nil where the reference does not cover it.
    public var envelope: [Band?]
    public var lines: [Line]
    public var width = 640.0
    public var height = 260.0

    public init(parameter: String, unit: String, bucketSeconds: Double, envelope: [Band?], lines: [Line]) {
        self.init(parameter: parameter, unit: unit, axis: .time(bucketSeconds: bucketSeconds), envelope: envelope, lines: lines)
    }

    public init(parameter: String, unit: String, axis: Axis, envelope: [Band?], lines: [Line]) {
        self.parameter = parameter
        self.unit = unit
        self.axis = axis
        self.envelope = envelope
        self.lines = lines
    }

    public func svg() -> String {
        let left = 70.0, right = 16.0, top = 28.0, bottom = 40.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let count = max(envelope.count, lines.map(\.values.count).max() ?? 0, 1)
        var values = envelope.compactMap { $0 }.flatMap { [$0.low, $0.high] } + lines.flatMap { $0.values.compactMap { $0 } }
        values = values.filter(\.isFinite)
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low < 1e-12 * max(1, abs(high)) { low -= max(abs(low) * 1e-3, 1e-6); high += max(abs(high) * 1e-3, 1e-6) }
        let pad = (high - low) * 0.08
        let width = axis.bucketWidth.isFinite && axis.bucketWidth > 0 ? axis.bucketWidth : 1
        func at(_ bucket: Double) -> Double { axis.origin + bucket * width }
        let x = LinearScale(domain: (at(0), at(Double(count))), range: (left, left + plotWidth))
        let y = LinearScale(domain: (low - pad, high + pad), range: (top + plotHeight, top))
        let c = SVGText.coordinate
        let id = SVGText.escape(parameter)
        func middle(_ i: Int) -> Double { x(at(Double(i) + 0.5)) }
        let axisTitle = SVGText.escape(axis.name) + (axis.unit.isEmpty ? "" : " (\(SVGText.escape(axis.unit)))")
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="envelope-plot" data-parameter="\(id)" viewBox="0 0 \(c(width)) \(c(height))" \
            width="\(c(width))" height="\(c(height))" role="img" aria-label="\(id): trajectories against the reference envelope">
            <title>\(id) (\(SVGText.escape(unit))): trajectories by \(axisTitle) against the reference envelope</title>
            <rect x="\(c(left))" y="\(c(top))" width="\(c(plotWidth))" height="\(c(plotHeight))" fill="#fff" stroke="#888"/>

            """
        // The envelope, one polygon per stretch of covered buckets, each bucket over its whole width.
        func edges(_ i: Int) -> [Double] { [x(at(Double(i))), x(at(Double(i + 1)))] }
        for run in Self.runs(envelope.map { $0 != nil }) {
            let bands = run.map { (i: $0, band: envelope[$0]!) }
            let upper = bands.flatMap { b in edges(b.i).map { "\(c($0)),\(c(y(b.band.high)))" } }
            let lower = bands.reversed().flatMap { b in edges(b.i).reversed().map { "\(c($0)),\(c(y(b.band.low)))" } }
            s += "<polygon class=\"envelope\" points=\"\((upper + lower).joined(separator: " "))\" fill=\"#dfe8f7\" stroke=\"#9fb3d9\">"
                + "<title>reference envelope</title></polygon>"
            s += "<polyline class=\"reference-mean\" points=\"\(bands.flatMap { b in edges(b.i).map { "\(c($0)),\(c(y(b.band.mean)))" } }.joined(separator: " "))\" "
                + "fill=\"none\" stroke=\"#1f3b73\" stroke-dasharray=\"4 3\"/>\n"
        }
        let palette = ["#222", "#6a3d9a", "#33a02c", "#ff7f00", "#1f78b4"]
        for (n, line) in lines.enumerated() {
            let colour = line.flagged ? "#b00" : palette[n % palette.count]
            s += "<g class=\"trajectory\" data-batch=\"\(SVGText.escape(line.label))\"><title>\(SVGText.escape(line.label))</title>"
            for run in Self.runs(line.values.map { $0?.isFinite == true }) {
                let points = run.map { "\(c(middle($0))),\(c(y(line.values[$0]!)))" }
                s += points.count == 1
                    ? "<circle cx=\"\(c(middle(run[0])))\" cy=\"\(c(y(line.values[run[0]]!)))\" r=\"2\" fill=\"\(colour)\"/>"
                    : "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\"/>"
            }
            s += "</g>\n"
        }
        for t in y.ticks(5) {
            s += "<text x=\"\(c(left - 6))\" y=\"\(c(y(t) + 4))\" font-size=\"11\" text-anchor=\"end\">\(SVGText.number(t))</text>"
        }
        for t in x.ticks(6) {
            s += "<text x=\"\(c(x(t)))\" y=\"\(c(top + plotHeight + 14))\" font-size=\"11\" text-anchor=\"middle\">\(SVGText.number(t))</text>"
        }
        s += "<text class=\"x-axis\" x=\"\(c(left + plotWidth / 2))\" y=\"\(c(height - 8))\" font-size=\"11\" text-anchor=\"middle\">\(axisTitle)</text>"
        s += "<text x=\"4\" y=\"16\" font-size=\"12\" font-weight=\"bold\">\(id)\(unit.isEmpty ? "" : " (\(SVGText.escape(unit)))"), "
            + "by \(axisTitle), reference envelope shaded</text>\n</svg>"
        return s
    }

    /// Index runs where `present` holds.
    static func runs(_ present: [Bool]) -> [[Int]] {
        var runs: [[Int]] = [], current: [Int] = []
        for (i, p) in present.enumerated() {
            if p { current.append(i) } else if !current.isEmpty { runs.append(current); current = [] }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }
}
