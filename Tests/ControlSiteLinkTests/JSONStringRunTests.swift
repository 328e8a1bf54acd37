@testable import POCareContract
import Testing

/// A string's plain run is found eight bytes at a time: it must stop exactly where a byte at a
/// time stops, wherever the byte that ends it falls in a word.
@Suite("The plain run of a JSON string")
struct JSONStringRunTests {
    static func byteByByte(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start
        while i < bytes.count, bytes[i] != 0x22, bytes[i] != 0x5C, bytes[i] >= 0x20 { i += 1 }
        return i
    }

    /// Bytes next to the ones that matter (bit for bit and in order), and multi-byte UTF-8.
    static let alphabet: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x61, 0x7F, 0x80, 0xA2, 0xC3, 0xDC, 0xE2, 0xFF]

    @Test("ends where a byte-at-a-time scan ends: at a quote, a backslash or a control character, at every place in a word, or at the end")
    func sameAsByteByByte() {
        var generator = SplitMix(seed: 0x57_2026)
        var mismatches: [String] = []
        for _ in 0..<50_000 {
            let count = Int.random(in: 0...40, using: &generator)
            // Mostly plain letters, so that runs are long enough to span words.
            let bytes = (0..<count).map { _ in
                Int.random(in: 0..<8, using: &generator) == 0 ? Self.alphabet.randomElement(using: &generator)! : UInt8.random(in: 0x23...0x5B, using: &generator)
            }
            let start = count == 0 ? 0 : Int.random(in: 0...count, using: &generator)
            let ours = bytes.withUnsafeBufferPointer { JSONStringRun.end(in: $0, from: start) }
            if ours != Self.byteByByte(bytes, from: start), mismatches.count < 5 { mismatches.append("\(bytes) from \(start): \(ours)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        for special: UInt8 in [0x22, 0x5C, 0x00, 0x1F] {
            for place in 0..<24 {
                var bytes = [UInt8](repeating: 0x61, count: 24)
                bytes[place] = special
                #expect(bytes.withUnsafeBufferPointer { JSONStringRun.end(in: $0, from: 0) } == place, "\(special) at \(place)")
            }
        }
        let plain = Array("0123456789abcdef0123456789abcdef é ü".utf8)
        #expect(plain.withUnsafeBufferPointer { JSONStringRun.end(in: $0, from: 3) } == plain.count)
    }

    @Test("the strict check and the members' reader still find each string's end and refuse a control character in one")
    func readersOverRuns() throws {
        let long = String(repeating: "ab\\\"c", count: 9)
        let text = #"{"k\#(long)":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","t":"x\\"}"#
        try StrictJSON.check(Array(text.utf8)[...], depth: 8)
        var members: [String] = []
        try JSONFields.forEachMember(Array(text.utf8)[...]) { key, _ in members.append(String(decoding: key, as: UTF8.self)) }
        #expect(members == ["\"k\(long)\"", "\"t\""])
        for bad in ["{\"0123456789abc\u{01}\":1}", "{\"a\":\"0123456789\tabcdef\"}", "{\"a\":\"0123456789abcdef"] {
            #expect(throws: StrictJSON.Failure.self, "\(bad)") { try StrictJSON.check(Array(bad.utf8)[...], depth: 8) }
        }
    }
}
