import ControlSiteLink
import POCareContract
import Foundation
import POCareCore
import SiteStore
import Testing

@Suite("MQTT payloads")
struct ContractTests {
    func sample(_ seconds: Double) -> StoredSample {
        StoredSample(
            stream: .telemetry(device: "r1"), seq: 7, device: "r1", time: Date(timeIntervalSince1970: seconds), cycle: 3,
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
