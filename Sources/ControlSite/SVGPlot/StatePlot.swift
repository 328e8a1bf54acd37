import Foundation

/// A discrete or enumerated parameter over a batch: one strip, a coloured segment for each
/// stretch of one label (a flag's true or false, a status's label), hatched where no value was
/// read well, with the labels written in and a legend. Server-side SVG, no script.
public struct StatePlot: Sendable {
    public struct Observation: Sendable, Equatable {
        public var time: Double
        /// The label (or `true`/`false`); nil when the value was not read well.
        public var label: String?
        public init(time: Double, label: String?) {
            self.time = time
            self.label = label
        }
    }

    public var parameter: String
    public var observations: [Observation]
    public var width = 960.0
    public var height = 74.0

    public init(parameter: String, observations: [Observation]) {
        self.parameter = parameter
        self.observations = observations.filter { $0.time.isFinite }.sorted { $0.time < $1.time }
    }

    /// Runs of one label: (label, start, end); a nil label is a stretch not read well.
    public func runs() -> [(label: String?, start: Double, end: Double)] {
        var runs: [(label: String?, start: Double, end: Double)] = []
        for o in observations {
            if let last = runs.last, last.label == o.label {
                runs[runs.count - 1].end = o.time
            } else {
                if !runs.isEmpty { runs[runs.count - 1].end = o.time }
                runs.append((o.label, o.time, o.time))
            }
        }
        return runs
    }

    static let palette = ["#9ecae1", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9", "#fee391", "#a1d99b"]

    public func svg() -> String {
        let left = 64.0, right = 16.0, top = 22.0, strip = 26.0
        let plotWidth = width - left - right
        let start = observations.first?.time ?? 0, end = max(observations.last?.time ?? 1, start + 1)
        let x = LinearScale(domain: (start, end), range: (left, left + plotWidth))
        let c = SVGText.coordinate
        let id = SVGText.escape(parameter)
        let labels = Array(Set(observations.compactMap(\.label))).sorted()
        func colour(_ label: String) -> String { Self.palette[(labels.firstIndex(of: label) ?? 0) % Self.palette.count] }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" class="state-plot" data-parameter="\(id)" viewBox="0 0 \(c(width)) \(c(height))" \
            width="\(c(width))" height="\(c(height))" role="img" aria-label="\(id) over the batch">
            <title>\(id) over the batch</title>
            <defs><pattern id="hatch-state-\(id)" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">\
            <line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="1.5"/></pattern></defs>
            <text x="4" y="14" font-size="12" font-weight="bold">\(id)</text>

            """
        for run in runs() {
            let x0 = x(run.start), w = max(x(run.end) - x0, 1)
            let fill = run.label.map(colour) ?? "url(#hatch-state-\(id))"
            let title = "\(run.label ?? "not read well") from \(TrendPlot.time(run.start)) to \(TrendPlot.time(run.end))"
            s += "<g class=\"\(run.label == nil ? "unmonitored" : "state")\"><rect x=\"\(c(x0))\" y=\"\(c(top))\" width=\"\(c(w))\" height=\"\(c(strip))\" "
                + "fill=\"\(fill)\" stroke=\"#fff\" stroke-width=\"0.5\"><title>\(SVGText.escape(title))</title></rect>"
            if let label = run.label, w > Double(label.count) * 6.5 + 6 {
                s += "<text x=\"\(c(x0 + 3))\" y=\"\(c(top + 17))\" font-size=\"11\">\(SVGText.escape(label))</text>"
            }
            s += "</g>\n"
        }
        s += "<rect x=\"\(c(left))\" y=\"\(c(top))\" width=\"\(c(plotWidth))\" height=\"\(c(strip))\" fill=\"none\" stroke=\"#888\"/>\n"
        var legend = left
        for label in labels {
            s += "<rect x=\"\(c(legend))\" y=\"\(c(top + strip + 8))\" width=\"10\" height=\"10\" fill=\"\(colour(label))\"/>"
                + "<text x=\"\(c(legend + 14))\" y=\"\(c(top + strip + 17))\" font-size=\"11\">\(SVGText.escape(label))</text>"
            legend += 24 + Double(label.count) * 6.5
        }
        return s + "\n</svg>"
    }
}
