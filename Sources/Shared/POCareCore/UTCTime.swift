import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The one text form of a record's time wherever people and other programs read it: UTC,
/// ISO 8601, milliseconds (`2026-11-25T08:00:00.250Z`).
///
/// Written and read by hand, digit by digit, with the arithmetic of Foundation's
/// `Date.ISO8601FormatStyle` (the milliseconds cut, not rounded, from the date's seconds since
/// 2001), so the text is the same as it always was: the format style pulls the ICU calendar
/// into a process, and with it about 4 MiB of resident memory that `pocared` does not need.
public enum UTCTime {
    /// `2026-11-25T08:00:00.250Z`.
    public static func format(_ date: Date) -> String { text(date, fraction: true) }

    /// `2026-11-25T08:00:00Z`: whole seconds, as `Date.formatted(.iso8601)` writes them.
    public static func formatSeconds(_ date: Date) -> String { text(date, fraction: false) }

    private static let secondsFrom1970To2001: Int64 = 978_307_200

    private static func text(_ date: Date, fraction: Bool) -> String {
        let sinceReference = date.timeIntervalSinceReferenceDate
        guard sinceReference.isFinite, abs(sinceReference) < 1e13 else { return date.formatted(.iso8601) }
        let whole = sinceReference.rounded(.down)
        let millis = Int(((sinceReference - whole) * 1000).rounded(.down))
        var seconds = time_t(Int64(whole) + secondsFrom1970To2001)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = abs(value)
            // A year beyond 9999 keeps all its digits.
            while rest / divisor >= 10 { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(48 + rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        let year = Int(parts.tm_year) + 1900
        if year < 0 { out.append(0x2D) }
        digits(year, 4)
        out.append(0x2D)
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(0x2D)
        digits(Int(parts.tm_mday), 2)
        out.append(0x54)
        digits(Int(parts.tm_hour), 2)
        out.append(0x3A)
        digits(Int(parts.tm_min), 2)
        out.append(0x3A)
        digits(Int(parts.tm_sec), 2)
        if fraction {
            out.append(0x2E)
            digits(millis, 3)
        }
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads `YYYY-MM-DDTHH:MM:SS`, with a fraction of any length or none, and `Z` or an offset
    /// `±HH:MM`: the form above, and whole seconds without a fraction.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var value = 0
            for i in from..<(from + count) {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x74, b[13] == 0x3A, b[16] == 0x3A,
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        var millis = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            let start = i
            for k in 0..<3 { millis = millis * 10 + (start + k < b.count && (0x30...0x39).contains(b[start + k]) ? Int(b[start + k] - 0x30) : 0) }
            var scale = 0.1
            while i < b.count, (0x30...0x39).contains(b[i]) {
                fraction += Double(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
            // The digits again as one decimal, read the way a parser reads "0.250".
            fraction = Double("0." + String(decoding: b[start..<i], as: UTF8.self)) ?? fraction
        }
        var offset = 0
        guard i < b.count else { return nil }
        switch b[i] {
        case 0x5A, 0x7A:
            i += 1
        case 0x2B, 0x2D:
            guard let hours = number(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let minutes = number(i + 4, 2), hours < 24, minutes < 60
            else { return nil }
            offset = (hours * 3600 + minutes * 60) * (b[i] == 0x2B ? 1 : -1)
            i += 6
        default:
            return nil
        }
        guard i == b.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = Int64(timegm(&parts)) - Int64(offset)
        // A day the month does not have (April 31) is refused, not rolled over.
        guard parts.tm_mday == Int32(day), parts.tm_mon == Int32(month - 1) else { return nil }
        let whole = Double(seconds - secondsFrom1970To2001)
        var value = whole + fraction
        // The sum may land a bit below the written millisecond, and writing cuts the
        // milliseconds: step up to the nearest Double that writes back as the same text.
        for _ in 0..<64 where value.rounded(.down) == whole && Int(((value - whole) * 1000).rounded(.down)) < millis {
            value = value.nextUp
        }
        return Date(timeIntervalSinceReferenceDate: value)
    }
}
