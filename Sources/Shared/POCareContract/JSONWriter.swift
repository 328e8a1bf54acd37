import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes JSON by hand into bytes: fast enough for a backlog drain, and deterministic.
package struct JSONWriter {
    package var bytes: [UInt8] = []

    package init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    package mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }
    package mutating func raw(_ byte: UInt8) { bytes.append(byte) }

    package mutating func string(_ s: String) {
        bytes.append(0x22)
        // Ids, units and labels need no escaping: copy them whole.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            bytes.append(contentsOf: s.utf8)
            bytes.append(0x22)
            return
        }
        for unit in s.utf8 {
            switch unit {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                raw(String(format: "\\u%04x", unit))
            default: bytes.append(unit)
            }
        }
        bytes.append(0x22)
    }

    package mutating func optional(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    /// A string from stored UTF-8 bytes, escaped as `string(_:)` escapes.
    package mutating func string(bytes s: UnsafeRawBufferPointer) {
        if s.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            bytes.append(0x22)
            bytes.append(contentsOf: s)
            bytes.append(0x22)
            return
        }
        string(String(decoding: s, as: UTF8.self))
    }

    package mutating func optional(bytes s: UnsafeRawBufferPointer?) {
        if let s { string(bytes: s) } else { raw("null") }
    }

    package mutating func number(_ v: Double) {
        guard v.isFinite else { return raw("null") }
        // Fast path, exact: a value with at most six decimals is written digit by digit. The
        // check is exact because IEEE division is correctly rounded: if scaled / 1e6 == v, the
        // decimal text parses back to v. Anything else takes the general shortest form.
        let scaled = (v * 1_000_000).rounded()
        guard abs(scaled) < 9e15, scaled / 1_000_000 == v else { return raw("\(v)") }
        var units = Int64(scaled)
        // Digits go into a small buffer, by constant divisions only, and join the bytes at once:
        // a drain writes millions of numbers a second.
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { out in
            var n = 0
            if units < 0 {
                out[n] = 0x2D
                n += 1
                units = -units
            }
            var whole = units / 1_000_000
            var fraction = Int(units - whole * 1_000_000)
            var digits = 1
            var rest = whole / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            var position = n + digits - 1
            repeat {
                out[position] = UInt8(truncatingIfNeeded: 48 + whole % 10)
                whole /= 10
                position -= 1
            } while whole > 0
            n += digits
            if fraction != 0 {
                out[n] = 0x2E
                n += 1
                var width = 6
                while fraction % 10 == 0 {
                    fraction /= 10
                    width -= 1
                }
                position = n + width - 1
                for _ in 0..<width {
                    out[position] = UInt8(truncatingIfNeeded: 48 + fraction % 10)
                    fraction /= 10
                    position -= 1
                }
                n += width
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: out[0..<n]))
        }
    }

    /// A whole number of either sign.
    package mutating func signed(_ value: Int64) {
        guard value >= 0 else { return raw("\(value)") }
        integer(value)
    }

    package mutating func integer(_ value: Int64) {
        if value < 10 { return bytes.append(UInt8(48 + value)) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while v > 0 {
                buffer[count] = UInt8(48 + v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
        }
    }

    package mutating func key(_ k: String) {
        string(k)
        bytes.append(0x3A)
    }

    /// The date part of the last time written (`YYYY-MM-DD`) and its day number: the samples
    /// of a message almost always share their day, so the calendar is worked out once.
    private var cachedDay = Int64.min
    private var cachedDate: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit (a backlog drain formats
    /// hundreds of thousands of these a second; a general formatter is the slowest part).
    package mutating func time(_ date: Date) {
        time(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    /// The same, from a stored time in nanoseconds (rounded to the nearest millisecond).
    package mutating func time(nanoseconds: Int64) {
        // The arithmetic of `time(Date(nanosecondsSince1970:))`, so both write the same digits.
        time(milliseconds: Int64((Double(nanoseconds) / 1e9 * 1000).rounded()))
    }

    private mutating func time(milliseconds millis: Int64) {
        let day = millis >= 0 ? millis / 86_400_000 : (millis + 1) / 86_400_000 - 1
        let millisOfDay = Int(millis - day * 86_400_000)
        if day != cachedDay {
            var seconds = time_t(day * 86_400)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let year = Int(parts.tm_year) + 1900, month = Int(parts.tm_mon) + 1, dayOfMonth = Int(parts.tm_mday)
            func digit(_ value: Int) -> UInt8 { UInt8(48 + abs(value) % 10) }
            cachedDate = (
                digit(year / 1000), digit(year / 100), digit(year / 10), digit(year), 0x2D,
                digit(month / 10), digit(month), 0x2D, digit(dayOfMonth / 10), digit(dayOfMonth))
            cachedDay = day
        }
        bytes.append(0x22)
        withUnsafeBytes(of: cachedDate) { bytes.append(contentsOf: $0) }
        let hour = millisOfDay / 3_600_000, minute = millisOfDay / 60_000 % 60, second = millisOfDay / 1000 % 60
        let fraction = millisOfDay % 1000
        bytes.append(0x54)
        bytes.append(UInt8(48 + hour / 10))
        bytes.append(UInt8(48 + hour % 10))
        bytes.append(0x3A)
        bytes.append(UInt8(48 + minute / 10))
        bytes.append(UInt8(48 + minute % 10))
        bytes.append(0x3A)
        bytes.append(UInt8(48 + second / 10))
        bytes.append(UInt8(48 + second % 10))
        bytes.append(0x2E)
        bytes.append(UInt8(48 + fraction / 100))
        bytes.append(UInt8(48 + fraction / 10 % 10))
        bytes.append(UInt8(48 + fraction % 10))
        bytes.append(contentsOf: [0x5A, 0x22])
    }
}
