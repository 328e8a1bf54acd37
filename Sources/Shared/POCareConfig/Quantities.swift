import Foundation

/// Why a quantity written by a person (a duration, a byte size) was refused.
public enum QuantityProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(text: String, expected: String)
    case negative(text: String)
    case tooLarge(text: String, maximum: String)

    public var description: String {
        switch self {
        case .malformed(let text, let expected): "expected \(expected), got '\(Self.preview(text))'"
        case .negative(let text): "'\(Self.preview(text))' is negative; it must be zero or more"
        case .tooLarge(let text, let maximum): "'\(Self.preview(text))' is too large; the most this field accepts is \(maximum)"
        }
    }

    /// Quotes at most 40 characters, so a pasted megabyte does not become the message.
    static func preview(_ text: String) -> String { text.count > 40 ? String(text.prefix(40)) + "..." : text }
}

/// Durations in files and requests: `250ms`, `1s`, `2.5s`, `5m`, `1h`, `30d`; a bare number is
/// seconds. Every value is range-checked here, before any arithmetic: the largest accepted is
/// ten years, far beyond any retention or delay a site needs and far below where adding it to
/// a clock reading could overflow 64-bit nanoseconds (292 years).
public enum DurationText {
    public static let maximum: Duration = .seconds(3650 * 86_400)
    static let expected = "a duration such as 500ms, 1s, 2.5s, 5m, 1h or 30d"

    public static func parse(_ text: String) -> Result<Duration, QuantityProblem> {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("min", 60), ("m", 60), ("h", 3600), ("d", 86_400)]
        let seconds: Double
        switch QuantityText.value(text, units: units, expected: expected) {
        case .success(let value): seconds = value
        case .failure(let problem): return .failure(problem)
        }
        // Compared in floating point before the conversion to whole nanoseconds, which traps
        // on a value outside Int64.
        guard seconds.isFinite, seconds <= Double(maximum.components.seconds) else {
            return .failure(.tooLarge(text: text, maximum: "3650d"))
        }
        return .success(.nanoseconds(Int64((seconds * 1e9).rounded())))
    }
}

/// Byte sizes in files: `512MiB`, `2GiB`, `100MB`, `64KiB` or a whole number of bytes, at most
/// one pebibyte (no disk a site store lives on is larger; the limit keeps the value far from
/// Int64's end).
public enum ByteSizeText {
    public static let maximum: Int64 = 1 << 50
    static let expected = "a size such as 512MiB, 2GiB or 100MB"

    public static func parse(_ text: String) -> Result<Int64, QuantityProblem> {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776), ("kB", 1e3), ("KB", 1e3),
            ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        let bytes: Double
        switch QuantityText.value(text, units: units, expected: expected) {
        case .success(let value): bytes = value.rounded(.down)
        case .failure(let problem): return .failure(problem)
        }
        guard bytes.isFinite, bytes <= Double(maximum) else { return .failure(.tooLarge(text: text, maximum: "1024TiB")) }
        return .success(Int64(bytes))
    }
}

/// A number with an optional unit suffix, in the base unit: finite and not negative.
enum QuantityText {
    static func value(_ text: String, units: [(String, Double)], expected: String) -> Result<Double, QuantityProblem> {
        let t = text.trimmingCharacters(in: .whitespaces)
        var number = t
        var factor = 1.0
        if let unit = units.first(where: { t.hasSuffix($0.0) }) {
            number = String(t.dropLast(unit.0.count)).trimmingCharacters(in: .whitespaces)
            factor = unit.1
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII }), let n = Double(number), n.isFinite else {
            return .failure(.malformed(text: text, expected: expected))
        }
        if n < 0 { return .failure(.negative(text: text)) }
        return .success(n * factor)
    }
}

/// A duration, or nil when the text is not one or is out of range (see `DurationText`).
// Nil is the answer for text that is not a duration; DurationText.parse gives the reason.
public func parseDuration(_ text: String) -> Duration? { try? DurationText.parse(text).get() }

/// A byte size, or nil when the text is not one or is out of range (see `ByteSizeText`).
// Nil is the answer for text that is not a size; ByteSizeText.parse gives the reason.
public func parseByteSize(_ text: String) -> Int64? { try? ByteSizeText.parse(text).get() }
