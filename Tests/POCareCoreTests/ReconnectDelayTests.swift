import POCareCore
import Testing

@Suite("Reconnect backoff and record times")
struct ReconnectDelayTests {
    @Test("the delay doubles from the lower bound, stops at the upper, and is at least half of it")
    func equalJitter() {
        let range: ClosedRange<Duration> = .milliseconds(500)...(.seconds(30))
        for failures in 1...12 {
            let exponential = min(Int64(30_000_000_000), Int64(500_000_000) << (failures - 1))
            for _ in 0..<50 {
                let delay = reconnectDelay(afterFailures: failures, within: range)
                #expect(delay >= exponential / 2 && delay <= exponential, "failure \(failures): \(delay)")
            }
        }
    }

    @Test("record times are UTC with milliseconds and read back")
    func utcTime() throws {
        let time = try #require(UTCTime.parse("2026-11-25T08:00:00.250Z"))
        #expect(UTCTime.format(time) == "2026-11-25T08:00:00.250Z")
        #expect(UTCTime.parse("2026-11-25T08:00:00Z") != nil)
        #expect(UTCTime.parse("yesterday") == nil)
    }
}
