import Foundation

/// One parameter over a whole batch, as a QP reviews it: the values against the alert and
/// action bands of the phase in force (bands change at phase boundaries), excursions shaded,
/// unmonitored time hatched, alarm markers with who and why on hover. Server-side SVG, no
/// script, readable in black and white (bands differ in pattern density as well as colour).
public struct TrendPlot: Sendable {
    public struct Limits: Sendable, Equatable {
        public var alertLow: Double?
        public var alertHigh: Double?
        public var actionLow: Double?
        public var actionHigh: Double?
        public init(alertLow: Double? = nil, alertHigh: Double? = nil, actionLow: Double? = nil, actionHigh: Double? = nil) {
            self.alertLow = alertLow
            self.alertHigh = alertHigh
            self.actionLow = actionLow
            self.actionHigh = actionHigh
        }

        var values: [Double] { [alertLow, alertHigh, actionLow, actionHigh].compactMap { $0 } }

        /// Outside the alert range (or beyond an action limit where no alert limit is set).
        public func isExcursion(_ v: Double) -> Bool {
            if let l = alertLow ?? actionLow, v < l { return true }
            if let h = alertHigh ?? actionHigh, v > h { return true }
            return false
        }
    }

    public struct Phase: Sendable, Equatable {
        public var name: String
        public var start: Double
        public var end: Double
        public var limits: Limits?
        public init(name: String, start: Double, end: Double, limits: Limits?) {
            self.name = name
            self.start = start
            self.end = end
            self.limits = limits
        }
    }

    public struct Marker: Sendable, Equatable {
        /// raised, acknowledged, cleared, …: drawn differently.
        public var kind: String
        public var time: Double
        /// Who and why, shown on hover.
        public var title: String
        public init(kind: String, time: Double, title: String) {
            self.kind = kind
            self.time = time
            self.title = title
        }
    }

    /// One observation; nil when the value was not read well.
    public struct Observation: Sendable, Equatable {
        public var time: Double
        public var value: Double?
        public init(time: Double, value: Double?) {
            self.time = time
            self.value = value
        }
    }

    public var parameter: String
    public var unit: String
    public var observations: [Observation]
    public var phases: [Phase]
    public var markers: [Marker]
    public var width = 960.0
    public var height = 240.0
    /// A hole longer than this many median sampling intervals is unmonitored.
    public var maxHoldFactor = 3.0
    /// Excursions and unmonitored stretches as the batch's statistics found them (the one rule
    /// of the record); when set, they are drawn as given, and the line breaks only where an
    /// observation has no value (the caller puts one wherever monitoring stops).
    public var givenExcursions: [Interval]?
    public var givenUnmonitored: [Interval]?

    public init(parameter: String, unit: String, observations: [Observation], phases: [Phase], markers: [Marker]) {
        self.parameter = parameter
        self.unit = unit
        self.observations = observations.filter { $0.time.isFinite }.sorted { $0.time < $1.time }
        self.phases = phases.sorted { $0.start < $1.start }
        self.markers = markers
    }

    public struct Interval: Sendable, Equatable {
        public var start: Double
        public var end: Double
        public init(start: Double, end: Double) {
            self.start = start
            self.end = end
        }
    }

    /// Stretches without a good value: values not read well, and holes in the records longer
    /// than the hold.
    /// How long a value holds: `maxHoldFactor` median sampling intervals.
    var hold: Double {
        if givenUnmonitored != nil { return .infinity }
        let times = observations.map(\.time)
        let steps = zip(times.dropFirst(), times).map { $0 - $1 }.filter { $0 > 0 }.sorted()
        let median = steps.isEmpty ? 1 : steps[steps.count / 2]
        return median * maxHoldFactor
    }

    public func unmonitoredIntervals() -> [Interval] {
        if let givenUnmonitored { return givenUnmonitored }
        let hold = self.hold
        var result: [Interval] = []
        var badSince: Double?
        for (i, o) in observations.enumerated() {
            if o.value == nil {
                if badSince == nil { badSince = o.time }
            } else if let since = badSince {
                result.append(Interval(start: since, end: o.time))
                badSince = nil
            }
            if i + 1 < observations.count, observations[i + 1].time - o.time > hold, o.value != nil {
                result.append(Interval(start: o.time, end: observations[i + 1].time))
            }
        }
        if let since = badSince, let last = observations.last { result.append(Interval(start: since, end: last.time)) }
        return result
    }

    /// Runs of good values outside the alert range of the phase in force.
    public func excursionIntervals() -> [Interval] {
        if let givenExcursions { return givenExcursions }
        var result: [Interval] = []
        var since: Double?
        var last: Double = 0
        for o in observations {
            guard let v = o.value else {
                if let s = since { result.append(Interval(start: s, end: last)) }
                since = nil
                continue
            }
            let outside = limits(at: o.time)?.isExcursion(v) ?? false
            if outside, since == nil { since = o.time }
            if !outside, let s = since {
                result.append(Interval(start: s, end: o.time))
                since = nil
            }
            last = o.time
        }
        if let s = since { result.append(Interval(start: s, end: last)) }
        return result
    }

    public func limits(at time: Double) -> Limits? {
        phases.last { $0.start <= time }?.limits ?? phases.first?.limits
    }

    /// The plot's geometry: margins, the time and value scales, the drawn range.
    struct Frame {
        let left = 64.0, right = 16.0, top = 34.0, bottom = 28.0
        let plotWidth: Double, plotHeight: Double
        let start: Double, end: Double, low: Double, high: Double
        let x: LinearScale, y: LinearScale
        let id: String

        init(_ plot: TrendPlot) {
            plotWidth = plot.width - left - right
            plotHeight = plot.height - top - bottom
            start = min(plot.observations.first?.time ?? 0, plot.phases.first?.start ?? .infinity)
            end = max(plot.observations.last?.time ?? 1, plot.phases.last?.end ?? -.infinity)
            x = LinearScale(domain: (start, end > start ? end : start + 1), range: (left, left + plotWidth))
            var lows = plot.observations.compactMap(\.value), highs = lows
            for p in plot.phases { lows += p.limits?.values ?? []; highs += p.limits?.values ?? [] }
            var low = lows.min() ?? 0, high = highs.max() ?? 1
            if high - low < 1e-9 { low -= 1; high += 1 }
            let pad = (high - low) * 0.08
            self.low = low - pad
            self.high = high + pad
            y = LinearScale(domain: (self.low, self.high), range: (top + plotHeight, top))
            id = SVGText.escape(plot.parameter)
        }
    }

    public func svg() -> String {
        let f = Frame(self)
        var s = header(f)
        s += "<g clip-path=\"url(#clip-\(f.id))\">\n"
        s += phaseBands(f) + shading(f) + trendPath(f)
        s += "</g>\n"
        s += phaseLabels(f) + alarmMarkers(f) + axes(f)
        return s + "</svg>"
    }

    private func header(_ f: Frame) -> String {
        let c = SVGText.coordinate, id = f.id
        return """
            <svg xmlns="http://www.w3.org/2000/svg" class="trend-plot" data-parameter="\(id)" viewBox="0 0 \(c(width)) \(c(height))" \
            width="\(c(width))" height="\(c(height))" role="img" aria-label="\(id) over the batch">
            <title>\(id) (\(SVGText.escape(unit))) over the batch</title>
            <defs><pattern id="hatch-\(id)" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">\
            <line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="1.5"/></pattern>\
            <clipPath id="clip-\(id)"><rect x="\(c(f.left))" y="\(c(f.top))" width="\(c(f.plotWidth))" height="\(c(f.plotHeight))"/></clipPath></defs>
            <rect x="\(c(f.left))" y="\(c(f.top))" width="\(c(f.plotWidth))" height="\(c(f.plotHeight))" fill="#fff" stroke="#888"/>

            """
    }

    /// Bands of each phase: action zone (beyond action limits), alert zone, and the range.
    private func phaseBands(_ f: Frame) -> String {
        let c = SVGText.coordinate
        var s = ""
        for phase in phases {
            let x0 = f.x(max(phase.start, f.start)), x1 = f.x(min(phase.end, f.end))
            let w = max(x1 - x0, 0.5)
            s += "<g class=\"phase-band\" data-phase=\"\(SVGText.escape(phase.name))\">"
            if let l = phase.limits {
                func band(_ cls: String, _ from: Double, _ to: Double, _ fill: String) {
                    let ya = f.y(max(from, f.low)), yb = f.y(min(to, f.high))
                    guard ya > yb else { return }
                    s += "<rect class=\"\(cls)\" x=\"\(c(x0))\" y=\"\(c(yb))\" width=\"\(c(w))\" height=\"\(c(ya - yb))\" fill=\"\(fill)\"/>"
                }
                let inLow = l.alertLow ?? l.actionLow ?? f.low, inHigh = l.alertHigh ?? l.actionHigh ?? f.high
                band("band-in-range", inLow, inHigh, "#e3f2e1")
                if let a = l.alertLow { band("band-alert", l.actionLow ?? f.low, a, "#fff1c9") }
                if let a = l.alertHigh { band("band-alert", a, l.actionHigh ?? f.high, "#fff1c9") }
                if let a = l.actionLow { band("band-action", f.low, a, "#f8d0cc") }
                if let a = l.actionHigh { band("band-action", a, f.high, "#f8d0cc") }
                for (value, dash) in [(l.alertLow, "4 3"), (l.alertHigh, "4 3"), (l.actionLow, ""), (l.actionHigh, "")] {
                    guard let value else { continue }
                    s += "<line class=\"limit\" x1=\"\(c(x0))\" x2=\"\(c(x0 + w))\" y1=\"\(c(f.y(value)))\" y2=\"\(c(f.y(value)))\" "
                        + "stroke=\"#a33\" stroke-width=\"1\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")><title>\(SVGText.number(value)) \(SVGText.escape(unit))</title></line>"
                }
            }
            s += "<title>phase \(SVGText.escape(phase.name))</title></g>\n"
        }
        return s
    }

    /// Unmonitored time hatched, excursions shaded.
    private func shading(_ f: Frame) -> String {
        let c = SVGText.coordinate
        var s = ""
        for u in unmonitoredIntervals() {
            let x0 = f.x(u.start), w = max(f.x(u.end) - x0, 1)
            s += "<rect class=\"unmonitored\" x=\"\(c(x0))\" y=\"\(c(f.top))\" width=\"\(c(w))\" height=\"\(c(f.plotHeight))\" "
                + "fill=\"url(#hatch-\(f.id))\" opacity=\"0.6\"><title>unmonitored from \(Self.time(u.start)) to \(Self.time(u.end))</title></rect>\n"
        }
        for e in givenExcursions ?? excursionIntervals() {
            let x0 = f.x(e.start), w = max(f.x(e.end) - x0, 2)
            s += "<rect class=\"excursion\" x=\"\(c(x0))\" y=\"\(c(f.top))\" width=\"\(c(w))\" height=\"\(c(f.plotHeight))\" "
                + "fill=\"#d62728\" opacity=\"0.25\"><title>excursion from \(Self.time(e.start)) to \(Self.time(e.end))</title></rect>\n"
        }
        return s
    }

    /// The values, downsampled per pixel column; a hole or a bad value breaks the line.
    private func trendPath(_ f: Frame) -> String {
        let c = SVGText.coordinate
        var segments: [[Downsampling.Point]] = [[]]
        for o in observations {
            guard let v = o.value else {
                if !(segments.last?.isEmpty ?? true) { segments.append([]) }
                continue
            }
            if let last = segments.last?.last, o.time - last.time > hold {
                segments.append([])
            }
            segments[segments.count - 1].append(.init(time: o.time, value: v))
        }
        var d = ""
        for segment in segments {
            guard let first = segment.first, let last = segment.last else { continue }
            let columns = max(1, Int(f.plotWidth * (f.x(last.time) - f.x(first.time)) / f.plotWidth))
            let kept = Downsampling.minMaxPerColumn(segment, start: first.time, end: last.time, columns: columns)
            for (i, p) in kept.enumerated() { d += (i == 0 ? "M" : "L") + c(f.x(p.time)) + " " + c(f.y(p.value)) }
        }
        return "<path class=\"trend\" data-parameter=\"\(f.id)\" d=\"\(d)\" fill=\"none\" stroke=\"#1f3b73\" stroke-width=\"1.4\"/>\n"
    }

    /// Phase boundaries and names.
    private func phaseLabels(_ f: Frame) -> String {
        let c = SVGText.coordinate
        var s = ""
        for (i, phase) in phases.enumerated() {
            let px = f.x(max(phase.start, f.start))
            if i > 0 {
                s += "<line class=\"phase-boundary\" x1=\"\(c(px))\" x2=\"\(c(px))\" y1=\"\(c(f.top))\" y2=\"\(c(f.top + f.plotHeight))\" "
                    + "stroke=\"#222\" stroke-width=\"1.2\" stroke-dasharray=\"6 3\"/>"
            }
            s += "<text x=\"\(c(px + 3))\" y=\"\(c(f.top - 6))\" font-size=\"11\" fill=\"#222\">\(SVGText.escape(phase.name))</text>\n"
        }
        return s
    }

    /// Alarm markers along the top edge, with who and why on hover.
    private func alarmMarkers(_ f: Frame) -> String {
        let c = SVGText.coordinate, top = f.top
        var s = ""
        for m in markers where m.time >= f.start && m.time <= f.end {
            let px = f.x(m.time)
            let shape: String
            switch m.kind {
            case "raised", "escalated": shape = "M\(c(px - 5)) \(c(top + 10))L\(c(px + 5)) \(c(top + 10))L\(c(px)) \(c(top + 1))Z"
            case "cleared": shape = "M\(c(px - 4)) \(c(top + 2))h8v8h-8Z"
            default: shape = "M\(c(px)) \(c(top + 1))l5 5l-5 5l-5 -5Z"
            }
            s += "<g class=\"alarm-marker\" data-kind=\"\(SVGText.escape(m.kind))\"><title>\(SVGText.escape(m.title))</title>"
                + "<line x1=\"\(c(px))\" x2=\"\(c(px))\" y1=\"\(c(top))\" y2=\"\(c(top + f.plotHeight))\" stroke=\"#b15\" stroke-width=\"0.8\" stroke-dasharray=\"2 2\"/>"
                + "<path d=\"\(shape)\" fill=\"\(m.kind == "cleared" ? "#fff" : "#b15")\" stroke=\"#b15\"/></g>\n"
        }
        return s
    }

    /// The value and time axes, and the parameter's name.
    private func axes(_ f: Frame) -> String {
        let c = SVGText.coordinate
        var s = ""
        for t in f.y.ticks(5) {
            s += "<text x=\"\(c(f.left - 6))\" y=\"\(c(f.y(t) + 4))\" font-size=\"11\" text-anchor=\"end\">\(SVGText.number(t))</text>"
            s += "<line x1=\"\(c(f.left - 3))\" x2=\"\(c(f.left))\" y1=\"\(c(f.y(t)))\" y2=\"\(c(f.y(t)))\" stroke=\"#555\"/>"
        }
        for t in f.x.ticks(6) {
            s += "<text x=\"\(c(f.x(t)))\" y=\"\(c(f.top + f.plotHeight + 16))\" font-size=\"10\" text-anchor=\"middle\">\(Self.shortTime(t, span: f.end - f.start))</text>"
        }
        s += "<text x=\"4\" y=\"14\" font-size=\"12\" font-weight=\"bold\">\(f.id)\(unit.isEmpty ? "" : " (\(SVGText.escape(unit)))")</text>\n"
        return s
    }

    static func time(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e11 else { return "-" }
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func shortTime(_ seconds: Double, span: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e11 else { return "-" }
        let f = DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = span > 2 * 86400 ? "MM-dd HH:mm" : "HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }
}
