import Foundation
import POCareCore
import SiteStore
import POCareContract
import Testing

@testable import ControlSiteLink

/// The link writes telemetry straight from the stored rows; what it writes must be exactly
/// the contract's message for the same samples.
@Suite("Telemetry written straight from the store")
struct TelemetryEncoderTests {
    /// A store in a fresh temporary folder, removed when the test ends.
    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-encoder-\(UUID().uuidString)")
        var storePath: String { url.appendingPathComponent("site.db").path }
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }

        func store() throws -> SiteStore {
            var settings = SiteStore.Settings(path: storePath)
            settings.freeSpaceWarningBytes = 0
            settings.freeSpaceLimitBytes = 0
            return try SiteStore(settings: settings)
        }
    }

    static let parameters = ["temperature", "phase", "running", "serial", "ph"]
    static let phaseLabels = SampleLabels(["phase": [1: "activation", 3: "expansion"]])

    func sample(_ n: Int, phase: Double = 3) -> Sample {
        Sample(
            deviceId: "r1", time: Date(timeIntervalSince1970: 1_795_000_000 + Double(n) * 1.000_123_457), monotonicTime: Int64(n),
            cycle: UInt64(n), startLateness: .zero, missedCycles: 0,
            readings: [
                Reading(parameterId: "temperature", value: .number(Double(Float(37.017_345 + Double(n) * 0.01))), quality: .good),
                Reading(parameterId: "phase", value: .number(phase), quality: .good),
                Reading(parameterId: "running", value: .flag(n % 2 == 0), quality: .good),
                Reading(parameterId: "serial", value: .text("SN \"\(n)\"\n"), quality: .good),
                Reading(parameterId: "ph", value: n % 3 == 0 ? nil : .number(7.1), quality: n % 3 == 0 ? .badDevice : .good),
            ])
    }

    func message(_ reader: StoreReader, after: Int64 = 0, limit: Int = 500, maxBytes: Int = 256 * 1024,
                 encoder: TelemetryEncoder = TelemetryEncoder(), sent: Date) throws -> TelemetryEncoder.Message? {
        try encoder.message(
            site: "site-a", device: "r1", epoch: "0123456789abcdef0123456789abcdef", sent: sent, reader: reader, after: after,
            through: .max, limit: limit, maxBytes: maxBytes,
            previousHash: { try reader.hash(before: $0, stream: .telemetry(device: "r1")) })
    }

    @Test("a message written from the stored rows is byte for byte the contract's message for the decoded samples")
    func sameBytes() async throws {
        let folder = try Folder()
        let store = try folder.store()
        for n in 1...40 {
            store.append(sample(n, phase: n == 7 ? 9 : 3), context: SampleContext(batchId: n > 20 ? "B-1" : nil, phase: "expansion",
                specFingerprint: "sha256:ab"), parameters: Self.parameters, labels: Self.phaseLabels)
        }
        await store.flush()
        store.close()
        let reader = try StoreReader(path: folder.storePath)
        let sent = Date(timeIntervalSince1970: 1_795_000_100.5)
        let direct = try #require(try message(reader, after: 4, limit: 30, sent: sent))
        let decoded = try reader.samples(stream: .telemetry(device: "r1"), after: 4, limit: 30)
        let expected = Contract.telemetry(
            site: "site-a", device: "r1", samples: decoded[...], sent: sent, epoch: "0123456789abcdef0123456789abcdef")
        #expect(String(decoding: direct.payload, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        #expect(direct.first == 5 && direct.last == 34 && direct.lastHash == decoded.last?.hash)
        // The code the enumeration lacks travels as the number; the others as their labels.
        let text = String(decoding: direct.payload, as: UTF8.self)
        #expect(text.contains("\"phase\":9,") && text.contains("\"phase\":\"expansion\""))
    }

    @Test("a message stops before the sample that would take it past the size limit; the next one starts there")
    func sizeLimit() async throws {
        let folder = try Folder()
        let store = try folder.store()
        for n in 1...100 {
            store.append(sample(n), context: SampleContext(), parameters: Self.parameters, labels: Self.phaseLabels)
        }
        await store.flush()
        store.close()
        let reader = try StoreReader(path: folder.storePath)
        let encoder = TelemetryEncoder()
        var after: Int64 = 0
        var messages = 0
        while let next = try message(reader, after: after, maxBytes: 4096, encoder: encoder, sent: Date()) {
            #expect(next.first == after + 1, "no sample skipped")
            #expect(next.payload.count <= 4096, "\(next.payload.count) bytes")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(next.payload)) as? [String: Any])
            #expect((object["samples"] as? [Any])?.count == Int(next.last - next.first + 1))
            after = next.last
            messages += 1
        }
        #expect(after == 100 && messages > 5)
    }

    @Test("a sample keeps the labels it was taken under after the profile's labels change; one stored without labels takes the current ones")
    func labelsAsTaken() async throws {
        let folder = try Folder()
        let store = try folder.store()
        store.append(sample(1), context: SampleContext(), parameters: Self.parameters, labels: Self.phaseLabels)
        store.append(sample(2), context: SampleContext(), parameters: Self.parameters,
                     labels: SampleLabels(["phase": [3: "expansion (bag 2)"]]))
        store.append(sample(3), context: SampleContext(), parameters: Self.parameters)
        await store.flush()
        store.close()
        let reader = try StoreReader(path: folder.storePath)
        let encoder = TelemetryEncoder()
        encoder.currentLabels = ["r1": ["phase": [3: "growth"]]]
        let direct = try #require(try message(reader, encoder: encoder, sent: Date()))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(direct.payload)) as? [String: Any])
        let phases = (object["samples"] as? [[String: Any]] ?? []).map { ($0["values"] as? [String: Any])?["phase"] as? String }
        #expect(phases == ["expansion", "expansion (bag 2)", "growth"])
        #expect(try reader.samples(stream: .telemetry(device: "r1"), after: 0, limit: 3).map(\.labels) == [
            Self.phaseLabels, SampleLabels(["phase": [3: "expansion (bag 2)"]]), nil,
        ])
    }

    @Test("a damaged row is an error that names the stream, never a crash")
    func damagedRow() async throws {
        let folder = try Folder()
        let store = try folder.store()
        store.append(sample(1), context: SampleContext(), parameters: Self.parameters, labels: Self.phaseLabels)
        await store.flush()
        store.close()
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [folder.storePath, "UPDATE samples SET readings = x'0140' WHERE seq = 1"]
        try sqlite.run()
        sqlite.waitUntilExit()
        let reader = try StoreReader(path: folder.storePath)
        #expect(throws: SampleCodec.DecodeError.self) { try message(reader, sent: Date()) }
        do {
            _ = try message(reader, sent: Date())
        } catch {
            #expect("\(error)".contains("r1/telemetry"), "\(error)")
        }
    }
}
