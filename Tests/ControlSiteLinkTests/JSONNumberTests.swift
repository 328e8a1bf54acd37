@testable import POCareContract
import Testing

/// The numbers of samples are read from their bytes: each must be exactly the double the
/// standard library's parser gives for the same text, bit for bit.
@Suite("JSON numbers read from their bytes")
struct JSONNumberTests {
    static func standard(_ text: String) -> Double? { Double(text) }

    static func same(_ text: String) -> Bool {
        let ours = JSONNumber.double(Array(text.utf8)[...]), theirs = standard(text)
        return ours?.bitPattern == theirs?.bitPattern
    }

    @Test("edge cases read as the standard library reads them, sign of zero included")
    func edges() {
        let texts = ["0", "-0", "0.0", "-0.0", "-0.0e3", "0e99999", "1", "-1", "37.019", "0.1", "0.30000000000000004", "1e22", "1e23",
                     "-1e-22", "1e-23", "9007199254740992", "9007199254740993", "123456789012345678901", "1234567890123456789",
                     "0.000000000000000000001234", "1.7976931348623157e308", "1e309", "5e-324", "2.2250738585072014e-308",
                     "1E5", "1e+5", "01", "1.", ".5", "+1", "1e", "1e+", "-", "", " 1", "1 ", "inf", "nan", "0x10", "1.5e-7", "4.35"]
        for text in texts { #expect(Self.same(text), "\(text)") }
        #expect(JSONNumber.double(Array("-0".utf8)[...])?.sign == .minus)
    }

    @Test("short decimals, as sensors send them, take the fast path and agree with the standard library")
    func fastPath() {
        #expect(JSONNumber.fast(Array("37.019".utf8)[...]) == 37.019)
        #expect(JSONNumber.fast(Array("-12.5e-3".utf8)[...]) == -0.0125)
        #expect(JSONNumber.fast(Array("9007199254740993".utf8)[...]) == nil)  // beyond 2^53: left to the standard library
        #expect(JSONNumber.fast(Array("1e23".utf8)[...]) == nil)
    }

    @Test("200,000 random decimals of every length and exponent read exactly as the standard library reads them")
    func random() {
        var generator = SplitMix(seed: 0x5eed_2026)
        var mismatches: [String] = []
        for _ in 0..<200_000 {
            let digits = Int.random(in: 1...20, using: &generator)
            var text = Bool.random(using: &generator) ? "-" : ""
            let whole = Int.random(in: 0...digits, using: &generator)
            let wholeDigits = String((0..<max(1, whole)).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
            text += wholeDigits.count > 1 && wholeDigits.first == "0" ? "1" + wholeDigits.dropFirst() : wholeDigits
            if digits > whole { text += "." + String((0..<(digits - whole)).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) }) }
            if Int.random(in: 0...3, using: &generator) == 0 { text += "e" + String(Int.random(in: -30...30, using: &generator)) }
            if !Self.same(text) { mismatches.append(text) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }
}
