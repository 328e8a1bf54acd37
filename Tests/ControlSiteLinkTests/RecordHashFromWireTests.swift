import Foundation
import Hashing
import POCareContract
import POCareCore
import SiteStore
import Testing

@testable import ControlSiteLink

/// What the link sends is enough to recompute every record's hash exactly as the store made it.
@Suite("Every record's hash recomputed from the wire")
struct RecordHashFromWireTests {
    typealias Folder = TelemetryEncoderTests.Folder

    func sample(_ n: Int) -> Sample {
        let odd: Double = [Double.nan, -0.0, .infinity, 36.6][n % 4]
        return Sample(
            deviceId: "r1", time: Date(timeIntervalSince1970: 1_795_000_000 + Double(n) * 1.000_123_457), monotonicTime: Int64(n),
            cycle: UInt64(n), startLateness: .zero, missedCycles: 0,
            readings: [
                Reading(parameterId: "temperature", value: .number(odd), quality: .good),
                Reading(parameterId: "phase", value: .number(n == 5 ? 9 : 3), quality: .good),
                Reading(parameterId: "running", value: .flag(n % 2 == 0), quality: .good),
                Reading(parameterId: "serial", value: .text("SN \"\(n)\"\n<b>ü"), quality: .good),
                Reading(parameterId: "ph", value: n % 3 == 0 ? nil : .number(7.123_456_789_01), quality: n % 3 == 0 ? .badDevice : .good),
            ])
    }

    /// Samples 1...count stored by a site store, as the link publishes them, and as the Control Site's reader reads them.
    func published(_ count: Int) async throws -> (payload: [UInt8], message: RecordMessage) {
        let folder = try Folder()
        let store = try folder.store()
        for n in 1...count {
            store.append(sample(n), context: SampleContext(batchId: n > 10 ? "B-1" : nil, phase: "expansion", specFingerprint: "sha256:ab"),
                         parameters: ["temperature", "phase", "running", "serial", "ph"], labels: TelemetryEncoderTests.phaseLabels)
        }
        await store.flush()
        store.close()
        let reader = try StoreReader(path: folder.storePath)
        let written = try #require(try TelemetryEncoder().message(
            site: "site-a", device: "r1", epoch: nil, sent: Date(), reader: reader, after: 0, through: .max, limit: 100,
            maxBytes: 1 << 20, previousHash: { try reader.hash(before: $0, stream: .telemetry(device: "r1")) }))
        guard case .records(let message) = try ContractMessage.parse(topic: "pocare/v1/site-a/r1/telemetry", payload: written.payload) else {
            throw ParseFailure()
        }
        return (written.payload, message)
    }

    struct ParseFailure: Error {}

    @Test("telemetry the link writes from the store (labels, NaN, infinities, -0, text, bad quality) recomputes to each stored hash; a changed value does not")
    func telemetry() async throws {
        let (written, message) = try await published(24)
        #expect(message.samples.count == 24)
        for sample in message.samples {
            #expect(WireRecordHash.sample(stream: message.stream, device: "r1", sample: sample) == .verified, "sample \(sample.seq)")
        }
        let text = String(decoding: written, as: UTF8.self)
        #expect(text.contains("\"raw\":{\"temperature\":\"7ff8000000000000\""), "NaN travels with its bits")
        let altered = text.replacingOccurrences(of: "7.12345678901", with: "7.12345678902")
        guard case .records(let changed) = try ContractMessage.parse(topic: "pocare/v1/site-a/r1/telemetry", payload: Array(altered.utf8)) else {
            return
        }
        let verdicts = changed.samples.map { WireRecordHash.sample(stream: changed.stream, device: "r1", sample: $0) }
        #expect(verdicts.contains { if case .mismatch = $0 { true } else { false } })
    }

    @Test("events and audit entries as the link publishes them recompute to their stored hashes; a sample without time_ns is not recomputable, not a mismatch")
    func eventsAndAudit() async throws {
        let folder = try Folder()
        let store = try folder.store()
        store.append(EventRecord(stream: .events(device: "r1"), device: "r1", time: Date(timeIntervalSince1970: 1_795_000_000.123_456_789),
                                 kind: "raised", alarm: "A-1", batchId: "B-1", body: "{\"value\": 39.5, \"note\":\"é\"}"))
        store.append(EventRecord(stream: .events(device: "r1"), device: "r1", time: Date(), kind: "empty", body: ""))
        _ = try await store.audit(AuditAction(user: "op", action: "alarm.acknowledge", target: "A-1", reason: "line\nbreak \"quoted\""))
        let key = try Ed25519.PrivateKey.generate()
        store.checkpoint(site: "site-a", reason: "interval", key: key, publicKey: try key.publicKey())
        await store.flush()
        store.close()
        let reader = try StoreReader(path: folder.storePath)
        let events = try reader.events(stream: .events(device: "r1"), after: 0, limit: 10) + reader.events(stream: .siteEvents, after: 0, limit: 10)
        #expect(events.count == 3)
        for event in events {
            let fields = try JSONFields(Contract.event(site: "site-a", event: event))
            #expect(WireRecordHash.event(fields) == .verified, "\(event.stream) \(event.seq)")
        }
        for entry in try reader.auditEntries() {
            #expect(WireRecordHash.audit(try JSONFields(Contract.audit(site: "site-a", entry: entry))) == .verified)
        }
        // The checkpoint names every chain's head and verifies with the site's key only.
        let checkpoint = try #require(events.first { $0.kind == Checkpoint.eventKind })
        let received = try Checkpoint.read(Array(checkpoint.body.utf8)[...])
        #expect(Set(received.checkpoint.chains.map(\.stream)) == ["audit", "r1/events"])
        #expect(received.isSigned(by: try key.publicKey()))
        #expect(!received.isSigned(by: try Ed25519.PrivateKey.generate().publicKey()))
        // A sample from a site that predates time_ns.
        let old = #"{"seq_first":1,"seq_last":1,"schema":"pocare/v1/telemetry","site":"s","device":"r1","stream":"r1/telemetry","previous_hash":"00","samples":[{"seq":1,"time":"2026-11-25T08:00:00.000Z","cycle":1,"hash":"ab","values":{"t":1}}]}"#
        guard case .records(let message) = try ContractMessage.parse(topic: "pocare/v1/s/r1/telemetry", payload: Array(old.utf8)) else { return }
        #expect(WireRecordHash.sample(stream: "r1/telemetry", device: "r1", sample: message.samples[0]) == .notRecomputable("the sample carries no time_ns"))
    }

    @Test("a sample's values as its message's reader read them hash as their bytes do; values changed afterwards are hashed from the new bytes")
    func readValuesHashAsTheirBytes() async throws {
        let (_, message) = try await published(12)
        for sample in message.samples {
            #expect(sample.readValues?.count == 5, "sample \(sample.seq) was read")
            var fromBytes = sample
            fromBytes.values = sample.values
            #expect(fromBytes.readValues == nil)
            #expect(WireRecordHash.sample(stream: message.stream, device: "r1", sample: sample) == .verified, "sample \(sample.seq)")
            #expect(WireRecordHash.sample(stream: message.stream, device: "r1", sample: fromBytes) == .verified, "sample \(sample.seq)")
            // Another value in the bytes: the hash follows the bytes, not what was read before.
            let text = String(decoding: sample.values, as: UTF8.self)
            let flipped = text.contains(#""running":true"#)
                ? text.replacingOccurrences(of: #""running":true"#, with: #""running":false"#)
                : text.replacingOccurrences(of: #""running":false"#, with: #""running":true"#)
            #expect(flipped != text)
            var altered = sample
            altered.values = Array(flipped.utf8)[...]
            #expect(WireRecordHash.sample(stream: message.stream, device: "r1", sample: altered) != .verified, "sample \(sample.seq)")
        }
    }
}

@Suite("Ed25519 through libcrypto")
struct Ed25519Tests {
    @Test("a key signs and verifies, survives its PEM file, and openssl reads the same key; a changed message or key fails")
    func signAndVerify() throws {
        let key = try Ed25519.PrivateKey.generate()
        let message = Array("pocare checkpoint".utf8)
        let signature = try key.sign(message)
        let publicKey = try key.publicKey()
        #expect(publicKey.verifies(signature, of: message))
        #expect(!publicKey.verifies(signature, of: message + [0]))
        #expect(try Ed25519.PrivateKey(pem: key.pem).publicKey() == publicKey)
        #expect(try Ed25519.PublicKey(text: publicKey.description) == publicKey)
        #expect(throws: Ed25519.Failure.self) { try Ed25519.PublicKey(text: "ed25519:zz") }
        // openssl, independently: the PEM is a standard PKCS#8 Ed25519 key with this public key.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString).pem")
        defer { try? FileManager.default.removeItem(at: file) }
        try key.pem.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["pkey", "-in", file.path, "-pubout", "-outform", "DER"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let der = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(Array(der.suffix(32)) == publicKey.bytes)
    }

    @Test("the keys a message's reader found only save decoding: wrong, missing or escaped keys give the readings the values' own keys give")
    func knownParametersChangeNothing() throws {
        let values = Array(#"{"temperature":37.5,"p\u0068":7.1,"label":"run \"2\"","flag":true,"off":null}"#.utf8)[...]
        let quality = Array(#"{"off":"bad_device"}"#.utf8)[...]
        let plain = try WireRecordHash.canonicalReadings(values: values, quality: quality, raw: nil)
        #expect(plain.parameters == "temperature,ph,label,flag,off")
        for known in [["temperature", "ph", "label", "flag", "off"], ["temperature"], ["temp", "ph", "x", "flag", "off", "more"], [],
                      ["temperature", "p\\u0068", "label", "flag", "off"]] {
            let reused = try WireRecordHash.canonicalReadings(values: values, quality: quality, raw: nil, knownParameters: known)
            #expect(reused.parameters == plain.parameters, "known \(known)")
            #expect(reused.bytes == plain.bytes, "known \(known)")
        }
        // The hash over the ids as a list is the hash over them joined, as the site hashed them.
        var hasher = RecordChain.Hasher()
        func joined(_ parameters: String) -> String {
            hasher.sample(previous: RecordChain.genesis, stream: "r/telemetry", seq: 7, device: "r", timeNanoseconds: 1, cycle: 2,
                          batch: "B", phase: nil, spec: nil, parameters: parameters, readings: plain.bytes)
        }
        func listed(_ ids: [String]) -> String {
            hasher.sample(previous: RecordChain.genesis, stream: "r/telemetry", seq: 7, device: "r", timeNanoseconds: 1, cycle: 2,
                          batch: "B", phase: nil, spec: nil, parameterIds: ids, readings: plain.bytes)
        }
        #expect(joined(plain.parameters) == listed(["temperature", "ph", "label", "flag", "off"]))
        #expect(joined("") == listed([]))
        #expect(joined("a,b") != listed(["a", "b", "c"]))
    }
}
