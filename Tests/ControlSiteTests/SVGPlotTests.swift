import ControlSiteWeb
import Hashing
import SVGPlot
import Testing
import TestSupport

@Suite("Plots as SVG, and password hashes (pure)")
struct SVGPlotTests {
    @Test("min/max per column keeps a one-sample spike that decimation would lose, and keeps time order")
    func downsamplingKeepsSpikes() {
        var points = (0..<100_000).map { Downsampling.Point(time: Double($0), value: 37) }
        points[54_321].value = 39.5
        points[77_777].value = 34.0
        let kept = Downsampling.minMaxPerColumn(points, start: 0, end: 99_999, columns: 800)
        #expect(kept.count <= 800 * 4)
        #expect(kept.contains { $0.value == 39.5 } && kept.contains { $0.value == 34.0 })
        #expect(zip(kept, kept.dropFirst()).allSatisfy { $0.time < $1.time })
        #expect(Downsampling.minMaxPerColumn(Array(points.prefix(10)), start: 0, end: 9, columns: 800).count == 10)
    }

    @Test("a trend plot: one path, a band per phase, the excursion shaded, the hole hatched, markers with their titles")
    func trendElements() {
        let limits = TrendPlot.Limits(alertLow: 36.5, alertHigh: 37.5, actionLow: 36, actionHigh: 38)
        var observations = (0..<100).map { TrendPlot.Observation(time: Double($0), value: 37.0) }
        for i in 40..<45 { observations[i].value = 38.4 }
        observations.removeSubrange(60..<80)
        observations[10].value = nil
        let plot = TrendPlot(
            parameter: "temperature", unit: "Cel", observations: observations,
            phases: [.init(name: "activation", start: 0, end: 30, limits: limits), .init(name: "expansion", start: 30, end: 99, limits: limits)],
            markers: [.init(kind: "acknowledged", time: 42, title: "acknowledged by op-1: <checked> & ok")])
        let svg = plot.svg()
        #expect(svg.components(separatedBy: "class=\"trend\"").count - 1 == 1)
        #expect(svg.components(separatedBy: "class=\"phase-band\"").count - 1 == 2)
        #expect(plot.excursionIntervals() == [.init(start: 40, end: 45)])
        #expect(plot.unmonitoredIntervals() == [.init(start: 10, end: 11), .init(start: 59, end: 80)])
        #expect(svg.contains("class=\"excursion\"") && svg.components(separatedBy: "class=\"unmonitored\"").count - 1 == 2)
        #expect(svg.contains("<title>acknowledged by op-1: &lt;checked&gt; &amp; ok</title>"))
        #expect(svg.contains("class=\"phase-boundary\""))
    }

    @Test("a plot of nothing, or of values that are not finite, is still a plot and never a trap")
    func degenerateInput() {
        let empty = TrendPlot(parameter: "x", unit: "", observations: [], phases: [], markers: []).svg()
        #expect(empty.hasPrefix("<svg") && empty.hasSuffix("</svg>"))
        let odd = TrendPlot(parameter: "x", unit: "", observations: [.init(time: .nan, value: 1), .init(time: 1, value: .infinity), .init(time: 2, value: -.greatestFiniteMagnitude)],
                            phases: [.init(name: "p", start: 0, end: 2, limits: nil)], markers: []).svg()
        #expect(odd.hasSuffix("</svg>") && !odd.contains("nan") && !odd.contains("inf"))
        let means = BatchMeansPlot(parameter: "x", unit: "", columns: [.init(site: "a", isReference: true, points: [.init(label: "b", value: .nan)])],
                                   qualityRange: (.nan, .infinity), referenceMean: .nan, limits: [("alert low", .infinity)]).svg()
        #expect(means.hasSuffix("</svg>") && !means.contains("nan") && !means.contains("inf"))
        let envelope = EnvelopePlot(parameter: "x", unit: "", bucketSeconds: 60, envelope: [nil], lines: [.init(label: "b", values: [nil, .nan], flagged: false)]).svg()
        #expect(envelope.hasSuffix("</svg>") && !envelope.contains("nan"))
    }

    @Test("batch means are zoomed to the data and the quality range: a 0.1 degC difference fills the plot, limits far away are not drawn")
    func zoomedToData() {
        let plot = BatchMeansPlot(
            parameter: "temperature", unit: "Cel",
            columns: [.init(site: "a", isReference: true, points: [.init(label: "a1", value: 37.0), .init(label: "a2", value: 37.02)]),
                      .init(site: "b", isReference: false, points: [.init(label: "b1", value: 37.1)])],
            qualityRange: (36.96, 37.06), referenceMean: 37.01, limits: [("alert high", 37.5), ("alert low", 36.98)])
        let d = plot.domain
        #expect(d.low > 36.9 && d.high < 37.2)
        let svg = plot.svg()
        #expect(svg.contains("class=\"quality-range\"") && svg.contains("alert low 36.98") && !svg.contains("alert high"))
        #expect(svg.components(separatedBy: "class=\"batch-mean\"").count - 1 == 3)
    }

    @Test("the envelope breaks where the reference does not cover a bucket, and a flagged batch is drawn red")
    func envelopeRuns() {
        let plot = EnvelopePlot(parameter: "do", unit: "%", bucketSeconds: 60,
                                envelope: [.init(low: 45, mean: 50, high: 55), .init(low: 45, mean: 50, high: 55), nil, .init(low: 45, mean: 50, high: 55)],
                                lines: [.init(label: "b1", values: [50, 38, 50, 62], flagged: true)])
        let svg = plot.svg()
        #expect(svg.components(separatedBy: "<polygon class=\"envelope\"").count - 1 == 2)
        #expect(svg.contains("stroke=\"#b00\""))
        #expect(svg.contains("class=\"x-axis\"") && svg.contains("time since phase start (s)</text>"))
    }

    @Test("aligned by a progress variable, the x axis is that variable from its origin, named with its unit")
    func envelopeByProgress() {
        let plot = EnvelopePlot(parameter: "do", unit: "%", axis: .init(name: "viable_cell_density", unit: "10*6/mL", origin: 0.5, bucketWidth: 0.5),
                                envelope: [.init(low: 45, mean: 50, high: 55), .init(low: 40, mean: 45, high: 50)],
                                lines: [.init(label: "b1", values: [50, 44], flagged: false)])
        let svg = plot.svg()
        #expect(svg.contains(">viable_cell_density (10*6/mL)</text>") && svg.contains("by viable_cell_density (10*6/mL), reference envelope shaded"))
        #expect(!svg.contains("time since phase start"))
        // The ticks are values of the variable, from 0.5 where the axis starts to 1.5 where it ends.
        #expect(svg.contains(">0.6</text>") && svg.contains(">1.4</text>") && !svg.contains(">0</text>"))
    }

    @Test("a password hash is salted, carries its iterations, verifies only the right password, and refuses too few iterations")
    func passwordHash() throws {
        let a = try PasswordHash.make("correct horse battery", iterations: 200_000)
        let b = try PasswordHash.make("correct horse battery", iterations: 200_000)
        #expect(a != b && a.hasPrefix("pbkdf2-sha256$200000$"))
        #expect(PasswordHash.verify("correct horse battery", against: a))
        #expect(!PasswordHash.verify("correct horse batterY", against: a))
        #expect(throws: PasswordHash.Refusal.self) { try PasswordHash.make("x", iterations: 1000) }
        for broken in ["", "pbkdf2-sha256$abc$00$00", "md5$1$00$00", "pbkdf2-sha256$-5$00$" + String(repeating: "0", count: 64),
                       "pbkdf2-sha256$200000$zz$" + String(repeating: "0", count: 64), "pbkdf2-sha256$999999999999$00$00"] {
            #expect(!PasswordHash.verify("anything", against: broken))
        }
    }
}
