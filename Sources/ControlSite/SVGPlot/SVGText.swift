import Foundation

/// Text and numbers as SVG and HTML want them: escaped, and coordinates short enough that a
/// plot of a long batch stays small.
public enum SVGText {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A coordinate with one decimal; a value that is not finite never reaches a plot.
    static func coordinate(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let tenths = (x * 10).rounded()
        return tenths == tenths.rounded(.towardZero) && Int(tenths) % 10 == 0 ? String(Int(tenths) / 10) : String(format: "%.1f", x)
    }

    /// A value for an axis label: up to four significant digits.
    public static func number(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        return String(format: "%.4g", x)
    }
}

/// A linear map from data to pixels.
struct LinearScale {
    var domain: (Double, Double)
    var range: (Double, Double)

    func callAsFunction(_ x: Double) -> Double {
        let span = domain.1 - domain.0
        guard span != 0, span.isFinite else { return (range.0 + range.1) / 2 }
        return range.0 + (x - domain.0) / span * (range.1 - range.0)
    }

    /// Up to about `count` round tick values inside the domain.
    func ticks(_ count: Int) -> [Double] {
        let low = min(domain.0, domain.1), high = max(domain.0, domain.1)
        let span = high - low
        guard span > 0, span.isFinite else { return [low] }
        let rough = span / Double(max(count, 1))
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        var ticks: [Double] = []
        var t = (low / step).rounded(.up) * step
        while t <= high + step * 1e-9 && ticks.count < 50 {
            ticks.append(t)
            t += step
        }
        return ticks
    }
}
