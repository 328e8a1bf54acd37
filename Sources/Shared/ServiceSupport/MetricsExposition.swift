/// Metrics in Prometheus's text exposition format (version 0.0.4), written by hand: a few dozen
/// families read at scrape time from the statistics each part already keeps, so no metrics
/// library sits on a hot path or in the build.
public struct MetricFamily: Sendable, Equatable {
    public enum Kind: String, Sendable { case counter, gauge, summary }

    public struct Sample: Sendable, Equatable {
        /// `""`, or `_sum` / `_count` of a summary.
        public var suffix: String
        public var labels: [(name: String, value: String)]
        public var value: Double

        public init(_ value: Double, labels: [(name: String, value: String)] = [], suffix: String = "") {
            self.value = value
            self.labels = labels
            self.suffix = suffix
        }

        public static func == (a: Sample, b: Sample) -> Bool {
            a.suffix == b.suffix && a.value == b.value && a.labels.elementsEqual(b.labels) { $0 == $1 }
        }
    }

    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [Sample]

    public init(_ name: String, _ kind: Kind, help: String, samples: [Sample]) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    /// A family with one value per label value (`device`, `site`, `stream`).
    public init(_ name: String, _ kind: Kind, help: String, by label: String, _ values: [(String, Double)]) {
        self.init(name, kind, help: help, samples: values.map { Sample($0.1, labels: [(label, $0.0)]) })
    }

    /// A summary without quantiles: the total and the count, so `rate(sum)/rate(count)` is the mean.
    public static func summary(_ name: String, help: String, by label: String, _ values: [(String, sum: Double, count: Double)]) -> MetricFamily {
        MetricFamily(name, .summary, help: help, samples: values.flatMap {
            [Sample($0.sum, labels: [(label, $0.0)], suffix: "_sum"), Sample($0.count, labels: [(label, $0.0)], suffix: "_count")]
        })
    }
}

public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ families: [MetricFamily]) -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(escape(family.help, quotes: false))\n"
            out += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                out += family.name + sample.suffix
                if !sample.labels.isEmpty {
                    out += "{" + sample.labels.map { "\($0.name)=\"\(escape($0.value, quotes: true))\"" }.joined(separator: ",") + "}"
                }
                out += " " + number(sample.value) + "\n"
            }
        }
        return out
    }

    /// Label values come from sites and devices: backslash, newline and (in labels) the quote are escaped.
    static func escape(_ text: String, quotes: Bool) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.append(character)
            }
        }
        return out
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
