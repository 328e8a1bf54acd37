import Foundation
import POCareContract
import Hashing
import POCareCore
import SiteStore
import Testing

@Suite("Hash chain over every record")
struct RecordChainTests {
    /// A store with 20 samples of r1 and 5 events, closed.
    func filledStore() async throws -> TemporaryStore {
        let temp = try TemporaryStore()
        let store = try temp.open()
        for n in 0..<20 {
            store.append(
                sample("r1", cycle: UInt64(n), temperature: 37 + Double(n) / 10),
                context: SampleContext(batchId: "B-1", phase: "expansion", specFingerprint: "sha256:abc"), parameters: parameters)
        }
        for n in 0..<5 {
            store.append(EventRecord(
                stream: .events(device: "r1"), device: "r1", time: Date(timeIntervalSince1970: 1_700_000_000 + Double(n)),
                kind: n == 2 ? "raised" : "excursion", alarm: "r1/temperature/limit", batchId: "B-1", phase: "expansion",
                specFingerprint: "sha256:abc", body: #"{"n":\#(n)}"#))
        }
        await store.flush()
        store.close()
        return temp
    }

    func problems(_ temp: TemporaryStore, _ stream: StreamName) throws -> [String] {
        try StoreReader(path: temp.path).verifyChains().first { $0.stream == stream.description }?.problems ?? ["stream missing"]
    }

    func tamper(_ temp: TemporaryStore, _ sql: String) throws {
        let connection = try SQLiteConnection(path: temp.path)
        try connection.execute(sql)
    }

    @Test("an untouched store verifies on every stream, across a reopen")
    func intact() async throws {
        let temp = try await filledStore()
        let again = try temp.open()
        again.append(sample("r1", cycle: 99, temperature: 36), context: SampleContext(), parameters: parameters)
        await again.flush()
        again.close()
        let results = try StoreReader(path: temp.path).verifyChains()
        let allIntact = results.allSatisfy { $0.isIntact }
        let telemetryRecords = results.first { $0.stream == "r1/telemetry" }?.records
        #expect(results.map(\.stream).sorted() == ["audit", "r1/events", "r1/telemetry"])
        #expect(allIntact, "\(results)")
        #expect(telemetryRecords == 21)
    }

    @Test("a changed value, a removed event, and a record removed from the end are each named")
    func tampering() async throws {
        let changed = try await filledStore()
        try tamper(changed, "UPDATE samples SET cycle = 1234 WHERE seq = 7")
        let changedProblems = try problems(changed, .telemetry(device: "r1"))
        #expect(changedProblems.first?.contains("record 7") == true, "\(changedProblems)")

        let removed = try await filledStore()
        try tamper(removed, "DELETE FROM events WHERE kind = 'raised'")
        let removedProblems = try problems(removed, .events(device: "r1"))
        #expect(removedProblems == ["record 3 was removed"])

        let truncated = try await filledStore()
        try tamper(truncated, "DELETE FROM samples WHERE seq >= 19")
        let truncatedProblems = try problems(truncated, .telemetry(device: "r1"))
        #expect(truncatedProblems == ["records 19 to 20 were removed from the end"])

        let rewritten = try await filledStore()
        try tamper(rewritten, #"UPDATE events SET body = '{"n":9}' WHERE seq = 4"#)
        let rewrittenProblems = try problems(rewritten, .events(device: "r1"))
        #expect(rewrittenProblems.first?.contains("record 4") == true, "\(rewrittenProblems)")
    }

    /// A filled store whose r1 telemetry was delivered through 12 and pruned, open again.
    func storePrunedThrough12() async throws -> (TemporaryStore, SiteStore) {
        let temp = try await filledStore()
        var store = try temp.open()
        store.markDelivered(stream: .telemetry(device: "r1"), through: 12)
        await store.flush()
        store.close()
        store = try temp.open { $0.retention = .zero }
        // Reopening runs maintenance at once: wait until the delivered rows are pruned.
        let pruned = await waitFor(upTo: .seconds(10)) {
            (try? StoreReader(path: temp.path).sequenceNumbers(stream: .telemetry(device: "r1")))?.first == 13
        }
        #expect(pruned)
        return (temp, store)
    }

    @Test("pruning keeps the chain verifiable from the last pruned record")
    func pruning() async throws {
        let (temp, store) = try await storePrunedThrough12()
        store.close()
        let result = try #require(try StoreReader(path: temp.path).verifyChains().first { $0.stream == "r1/telemetry" })
        #expect(result.anchorSeq == 12 && result.records == 8 && result.isIntact, "\(result)")
    }

    @Test("a checkpoint signs how far each chain was pruned, so a Control Site can confirm a 'pruned' replay answer by the site's key")
    func checkpointStatesPrune() async throws {
        let (temp, store) = try await storePrunedThrough12()
        let key = try Ed25519.PrivateKey.generate()
        store.checkpoint(site: "site-a", reason: "interval", key: key, publicKey: try key.publicKey())
        await store.flush()
        store.close()
        let events = try StoreReader(path: temp.path).events(stream: .siteEvents, after: 0, limit: 10)
        let body = try #require(events.last { $0.kind == Checkpoint.eventKind }).body
        #expect(body.contains(#""seq":20,"hash":"#) && body.contains(#","pruned_through":12}"#), "\(body)")
        let received = try Checkpoint.read(Array(body.utf8)[...])
        #expect(received.isSigned(by: try key.publicKey()), "pruned_through is among the signed bytes")
        let chains = Dictionary(uniqueKeysWithValues: received.checkpoint.chains.map { ($0.stream, $0) })
        #expect(chains["r1/telemetry"]?.seq == 20 && chains["r1/telemetry"]?.prunedThrough == 12)
        #expect(chains["r1/events"]?.prunedThrough == nil, "undelivered events are never pruned: \(body)")
    }

    @Test("a checkpoint chain's pruned_through must lie within its chain; one without it reads as before")
    func prunedThroughBounds() throws {
        let key = try Ed25519.PrivateKey.generate()
        func body(_ chain: Checkpoint.Chain) throws -> String {
            try Checkpoint(site: "s", epoch: "e", reason: "interval", signedNanoseconds: 1, key: try key.publicKey().description,
                           chains: [chain]).signed(with: key)
        }
        let plain = try body(.init(stream: "r1/telemetry", seq: 20, hash: "ab"))
        #expect(!plain.contains("pruned_through"))
        #expect(try Checkpoint.read(Array(plain.utf8)[...]).checkpoint.chains.first?.prunedThrough == nil)
        #expect(throws: Checkpoint.Malformed.self) { try Checkpoint.read(Array(try body(.init(stream: "r1/telemetry", seq: 20, hash: "ab", prunedThrough: 21)).utf8)[...]) }
        let forged = plain.replacingOccurrences(of: #""hash":"ab"}"#, with: #""hash":"ab","pruned_through":-5}"#)
        #expect(throws: Checkpoint.Malformed.self) { try Checkpoint.read(Array(forged.utf8)[...]) }
        let added = plain.replacingOccurrences(of: #""hash":"ab"}"#, with: #""hash":"ab","pruned_through":20}"#)
        #expect(try !Checkpoint.read(Array(added.utf8)[...]).isSigned(by: try key.publicKey()), "a prune added after signing does not verify")
    }

    @Test("the hash is SHA-256 over the documented canonical bytes, so any consumer can recompute it")
    func canonicalForm() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        store.append(
            Sample(
                deviceId: "r1", time: Date(timeIntervalSince1970: 1_700_000_000), monotonicTime: 0, cycle: 3, startLateness: .zero,
                missedCycles: 0, readings: [Reading(parameterId: "t", value: .number(37.5), quality: .good)]),
            context: SampleContext(batchId: "B-1", phase: nil, specFingerprint: nil), parameters: ["t"])
        await store.flush()
        store.close()

        // Written out by hand from docs/site-store.md, independently of RecordChain.
        var bytes: [UInt8] = []
        func text(_ s: String) { bytes += Array(s.utf8) + [0] }
        func number(_ n: Int64) { bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(bitPattern: n) >> (8 * UInt64($0))) } }
        text("pocare-sample/1")
        text(String(repeating: "0", count: 64))
        text("r1/telemetry")
        number(1)
        text("r1")
        number(1_700_000_000_000_000_000)
        number(3)
        text("B-1")
        text("")
        text("")
        text("t")
        bytes.append(0x01)  // good (0 << 4) | number (1)
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: (37.5).bitPattern >> (8 * UInt64($0))) }
        let connection = try SQLiteConnection(path: temp.path, readOnly: true)
        let stored = try connection.scalar("SELECT hash FROM samples WHERE seq = 1")
        #expect(stored == SHA256.hex(bytes))
    }
}
