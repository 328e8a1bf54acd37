import Foundation
import POCareCore
import Testing

/// The record times are written by hand; Foundation's ISO 8601 format style, which they used to
/// be written with, is the oracle: the same text for any time, and the same instant read back.
@Suite("Record times as text")
struct UTCTimeTests {
    let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    @Test("any time is written as the ISO 8601 format style writes it, with milliseconds or whole seconds")
    func sameTextAsFoundation() {
        var generator = SystemRandomNumberGenerator()
        for i in 0..<100_000 {
            let t: Double = switch i % 4 {
            case 0: Double.random(in: -3e9...3e10, using: &generator)
            case 1: Double(Int64.random(in: 0...2_000_000_000_000, using: &generator)) / 1000
            case 2: Double(Int64.random(in: 0...2_000_000_000_000_000_000, using: &generator)) / 1e9
            default: Double(Int64.random(in: 1_700_000_000_000...1_900_000_000_000, using: &generator)) / 1000
                + Double.random(in: -1e-6...1e-6, using: &generator)
            }
            let date = Date(timeIntervalSince1970: t)
            #expect(UTCTime.format(date) == date.formatted(style), "\(t)")
            #expect(UTCTime.formatSeconds(date) == date.formatted(.iso8601), "\(t)")
        }
        for t in [0.0, -0.0004, 0.9995, -86_400.0001, 253_402_300_799.9996] {
            #expect(UTCTime.format(Date(timeIntervalSince1970: t)) == Date(timeIntervalSince1970: t).formatted(style))
        }
    }

    @Test("a written time reads back to the instant the format style reads and writes back to the same text; offsets, any fraction and whole seconds are read")
    func sameInstantAsFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let date = Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_000_000_000_000, using: &generator)) / 1000)
            let text = UTCTime.format(date)
            // The same instant: within a microsecond of Foundation's reading (the two may round
            // the last bit of the Double apart), and written back as the very same text.
            let parsed = try #require(UTCTime.parse(text), "\(text)")
            #expect(abs(parsed.timeIntervalSince(try style.parse(text))) < 1e-6, "\(text)")
            #expect(UTCTime.format(parsed) == text, "\(text)")
        }
        for text in ["2026-11-25T08:00:00.25Z", "2026-11-25T08:00:00.2501Z", "2026-11-25T08:00:00.250+01:00", "2026-11-25T08:00:00.250-05:30"] {
            #expect(UTCTime.parse(text) == (try style.parse(text)), "\(text)")
        }
        #expect(UTCTime.parse("2026-11-25T08:00:00Z") == (try Date.ISO8601FormatStyle().parse("2026-11-25T08:00:00Z")))
        for bad in ["", "2026-11-25", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T08:00:00.Z",
                    "2026-11-25T08:00:00", "2026-11-25T08:00:00Zjunk", "2026-11-25 08:00:00Z"] {
            #expect(UTCTime.parse(bad) == nil, "\(bad)")
        }
    }
}
