/// A JSON number's text as a `Double`, without making a String of it. Ingest reads every value of
/// every sample more than once (checking it, recomputing its hash, rolling it up), and most are
/// short decimals: those are taken exactly by the fast path below, the rest by the standard library.
public enum JSONNumber {
    /// The double nearest to `text`, as `Double(String)` gives it; nil where that gives nil.
    /// `text`: any run of bytes counted by `Int` (a slice of an array, or bytes lent in place).
    @inlinable
    public static func double<Bytes: RandomAccessCollection>(_ text: Bytes) -> Double? where Bytes.Element == UInt8, Bytes.Index == Int {
        fast(text) ?? Double(String(decoding: text, as: UTF8.self))
    }

    /// Powers of ten a double holds exactly.
    @usableFromInline
    static let exactPowers: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// Clinger's fast path: a decimal whose digits make an integer of at most 2^53 and whose
    /// exponent is within ±22 is that integer times or divided by a power of ten, both exact as
    /// doubles, so one correctly rounded operation gives the nearest double, as `strtod` does.
    /// Nil for anything else, and for any text that is not JSON's number grammar exactly.
    @usableFromInline
    static func fast<Bytes: RandomAccessCollection>(_ text: Bytes) -> Double? where Bytes.Element == UInt8, Bytes.Index == Int {
        var i = text.startIndex
        let end = text.endIndex
        var negative = false
        if i < end && text[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < end, isDigit(text[i]) else { return nil }
        var mantissa: UInt64 = 0, significant = 0, exponent = 0
        if text[i] == UInt8(ascii: "0") {
            i += 1
            if i < end && isDigit(text[i]) { return nil }  // a leading zero: not JSON
        } else {
            while i < end && isDigit(text[i]) {
                significant += 1
                guard significant <= 19 else { return nil }
                mantissa = mantissa &* 10 &+ UInt64(text[i] &- UInt8(ascii: "0"))
                i += 1
            }
        }
        if i < end && text[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end, isDigit(text[i]) else { return nil }
            while i < end && isDigit(text[i]) {
                if mantissa != 0 || text[i] != UInt8(ascii: "0") { significant += 1 }
                guard significant <= 19 else { return nil }
                mantissa = mantissa &* 10 &+ UInt64(text[i] &- UInt8(ascii: "0"))
                exponent -= 1
                i += 1
            }
        }
        if i < end && (text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E")) {
            i += 1
            var negativeExponent = false
            if i < end && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) { negativeExponent = text[i] == UInt8(ascii: "-"); i += 1 }
            guard i < end, isDigit(text[i]) else { return nil }
            var e = 0
            while i < end && isDigit(text[i]) {
                guard e < 10_000 else { return nil }
                e = e * 10 + Int(text[i] &- UInt8(ascii: "0"))
                i += 1
            }
            exponent += negativeExponent ? -e : e
        }
        guard i == end else { return nil }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        guard mantissa <= 1 << 53, exponent >= -22 && exponent <= 22 else { return nil }
        let value = exponent < 0 ? Double(mantissa) / exactPowers[-exponent] : Double(mantissa) * exactPowers[exponent]
        return negative ? -value : value
    }

    @usableFromInline
    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
