import ControlSiteLink
import POCareContract
import Foundation
import POCareCore
import PropertyBased
import SiteStore
import Testing

@Suite("JSON numbers in payloads")
struct PayloadNumberTests {
    func written(_ v: Double) throws -> Double? {
        let sample = StoredSample(
            stream: .telemetry(device: "r"), seq: 1, device: "r", time: Date(timeIntervalSince1970: 0), cycle: 0, context: SampleContext(),
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
