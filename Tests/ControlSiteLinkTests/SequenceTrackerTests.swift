import ControlSiteLink
import PropertyBased
import Testing

@Suite("Control Site de-duplication by sequence number")
struct SequenceTrackerTests {
    @Test("in-order messages are new; a repeat is a duplicate")
    func inOrder() {
        var tracker = SequenceTracker()
        #expect(tracker.observe(stream: "s", first: 1, last: 100) == .new)
        #expect(tracker.observe(stream: "s", first: 101, last: 150) == .new)
        #expect(tracker.observe(stream: "s", first: 101, last: 150) == .duplicate)
        #expect(tracker.observe(stream: "s", first: 1, last: 1) == .duplicate)
        #expect(tracker.summaries.first?.missing == [])
        #expect(tracker.summaries.first?.duplicates == 2)
    }

    @Test("a skipped range is missing until it arrives")
    func gapFilledLater() {
        var tracker = SequenceTracker()
        _ = tracker.observe(stream: "s", first: 1, last: 10)
        #expect(tracker.observe(stream: "s", first: 21, last: 30) == .new)
        #expect(tracker.missing(in: "s") == [11...20])
        #expect(tracker.observe(stream: "s", first: 11, last: 15) == .new)
        #expect(tracker.missing(in: "s") == [16...20])
        #expect(tracker.observe(stream: "s", first: 14, last: 22) == .partlyNew)
        #expect(tracker.missing(in: "s") == [])
    }

    @Test("streams are independent")
    func independentStreams() {
        var tracker = SequenceTracker()
        _ = tracker.observe(stream: "a", first: 1, last: 5)
        #expect(tracker.observe(stream: "b", first: 1, last: 5) == .new)
        #expect(tracker.summaries.map(\.stream) == ["a", "b"])
    }

    @Test("any delivery order with repeats: nothing is missing once every number has arrived, and each number counts once")
    func anyOrder() async {
        let messages = zip(Gen.int(in: 1...200), Gen.int(in: 0...20)).array(of: 1...60)
        await propertyCheck(count: 200, input: messages) { messages in
            var tracker = SequenceTracker()
            var seen = Set<Int64>()
            var newNumbers = 0
            for (start, length) in messages {
                let first = Int64(start), last = Int64(start + length)
                let fresh = (first...last).filter { !seen.contains($0) }.count
                let observation = tracker.observe(stream: "s", first: first, last: last)
                #expect(observation == (fresh == 0 ? .duplicate : fresh == length + 1 ? .new : .partlyNew))
                newNumbers += fresh
                seen.formUnion(first...last)
            }
            let summary = tracker.summaries[0]
            let missing = summary.missing.reduce(0) { $0 + Int($1.count) }
            let span = Int(summary.highest - summary.first + 1)
            #expect(span - missing == seen.count, "received plus missing covers the span")
            #expect(newNumbers == seen.count)
        }
    }
}

import Foundation
import POCareCore
import SiteStore

@Suite("MQTT payloads")
struct ContractTests {
    func sample(_ seconds: Double) -> StoredSample {
        StoredSample(
            stream: "r1/telemetry", seq: 7, device: "r1", time: Date(timeIntervalSince1970: seconds), cycle: 3,
            context: SampleContext(batchId: "B-1", phase: "expansion", specFingerprint: "sha256:ab"),
            readings: [
                Reading(parameterId: "temperature", value: .number(37.25), quality: .good),
                Reading(parameterId: "running", value: .flag(true), quality: .good),
                Reading(parameterId: "serial", value: .text("SN \"7\""), quality: .good),
                Reading(parameterId: "ph", value: nil, quality: .badDevice),
            ])
    }

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("telemetry carries sequence numbers, times, context, values and only the bad qualities")
    func telemetry() throws {
        let message = try object(Contract.telemetry(site: "s", device: "r1", samples: [sample(1_795_000_000.25)][...], sent: Date()))
        #expect(message["seq_first"] as? Int == 7 && message["seq_last"] as? Int == 7)
        #expect(message["stream"] as? String == "r1/telemetry")
        let first = try #require((message["samples"] as? [[String: Any]])?.first)
        #expect(first["time"] as? String == "2026-11-18T11:06:40.250Z")
        #expect(first["batch"] as? String == "B-1" && first["phase"] as? String == "expansion" && first["spec"] as? String == "sha256:ab")
        let values = try #require(first["values"] as? [String: Any])
        #expect(values["temperature"] as? Double == 37.25)
        #expect(values["serial"] as? String == "SN \"7\"")
        #expect(values["ph"] is NSNull)
        #expect(first["quality"] as? [String: String] == ["ph": "bad_device"])
    }

    @Test("times are UTC with milliseconds, also before 1970 and at the end of a day", arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"), (-0.5, "1969-12-31T23:59:59.500Z"), (86_399.999, "1970-01-01T23:59:59.999Z"),
        (1_795_000_000.007, "2026-11-18T11:06:40.007Z"),
    ])
    func times(seconds: Double, text: String) throws {
        let message = try object(Contract.telemetry(site: "s", device: "r1", samples: [sample(seconds)][...], sent: Date()))
        #expect(((message["samples"] as? [[String: Any]])?.first?["time"] as? String) == text)
        #expect(Contract.format(Date(timeIntervalSince1970: seconds)) == text)
    }
}

@Suite("JSON numbers in payloads")
struct PayloadNumberTests {
    func written(_ v: Double) throws -> Double? {
        let sample = StoredSample(
            stream: "r/telemetry", seq: 1, device: "r", time: Date(timeIntervalSince1970: 0), cycle: 0, context: SampleContext(),
            readings: [Reading(parameterId: "x", value: .number(v), quality: .good)])
        let bytes = Contract.telemetry(site: "s", device: "r", samples: [sample][...], sent: Date())
        // Swift's own parser (exact), not JSONSerialization's, which rounds some long decimals.
        let text = String(decoding: bytes, as: UTF8.self)
        guard let start = text.range(of: #""x":"#)?.upperBound, let end = text[start...].firstIndex(of: "}") else { return nil }
        return Double(text[start..<end])
    }

    @Test("every number reads back exactly", arguments: [
        0.0, 1, -1, 37.125, -12.34, 0.000001, 123456.789012, 38.400001525878906, 1e20, -3.5e-9, 7.2, 0.1 + 0.2, 9_007_199_254.5,
    ])
    func exact(value: Double) throws {
        #expect(try written(value) == value)
    }

    @Test("random numbers read back exactly")
    func random() async {
        await propertyCheck(count: 500, input: Gen.double(in: -1e9...1e9), Gen.int(in: 0...7)) { v, decimals in
            var p = 1.0
            for _ in 0..<decimals { p *= 10 }
            let value = (v * p).rounded() / p
            #expect((try? written(value)) == value)
            #expect((try? written(v)) == v)
        }
    }
}
