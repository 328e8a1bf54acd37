import Foundation
import POCareContract
import POCareCore
import PropertyBased
import SiteStore
import Synchronization
import Testing

/// A store in a fresh temporary folder, removed when the test ends.
final class TemporaryStore {
    let directory: URL
    var path: String { directory.appendingPathComponent("site.db").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func open(_ change: (inout SiteStore.Settings) -> Void = { _ in }) throws -> SiteStore {
        var settings = SiteStore.Settings(path: path)
        settings.freeSpaceWarningBytes = 0
        settings.freeSpaceLimitBytes = 0
        change(&settings)
        return try SiteStore(settings: settings)
    }
}

func sample(_ device: String, cycle: UInt64, temperature: Double) -> Sample {
    Sample(
        deviceId: device, time: Date(timeIntervalSince1970: 1_700_000_000 + Double(cycle)), monotonicTime: Int64(cycle),
        cycle: cycle, startLateness: .zero, missedCycles: 0,
        readings: [
            Reading(parameterId: "temperature", value: .number(temperature), quality: .good),
            Reading(parameterId: "running", value: .flag(true), quality: .good),
            Reading(parameterId: "serial", value: .text("SN-1"), quality: .good),
            Reading(parameterId: "ph", value: nil, quality: .badDevice),
        ])
}

let parameters = ["temperature", "running", "serial", "ph"]

final class CommitLog: Sendable {
    private let ranges = Mutex<[CommittedRange]>([])
    func record(_ r: [CommittedRange]) { ranges.withLock { $0 += r } }
    var all: [CommittedRange] { ranges.withLock { $0 } }
}



@Suite("Site store")
struct SiteStoreTests {
    @Test("sequence numbers are gap-free per stream and continue after the store is reopened")
    func sequenceNumbersContinue() async throws {
        let temp = try TemporaryStore()
        var store = try temp.open()
        for n in 0..<250 {
            store.append(sample("r1", cycle: UInt64(n), temperature: 37), context: SampleContext(), parameters: parameters)
            if n % 2 == 0 { store.append(sample("r2", cycle: UInt64(n), temperature: 36), context: SampleContext(), parameters: parameters) }
        }
        await store.flush()
        store.close()
        store = try temp.open()
        for n in 250..<300 {
            store.append(sample("r1", cycle: UInt64(n), temperature: 37), context: SampleContext(), parameters: parameters)
        }
        await store.flush()
        store.close()

        let reader = try StoreReader(path: temp.path)
        #expect(try reader.sequenceNumbers(stream: .telemetry(device: "r1")) == Array(1...300))
        #expect(try reader.sequenceNumbers(stream: .telemetry(device: "r2")) == Array(1...125))
        #expect(try reader.streams().first { $0.stream == .telemetry(device: "r1") }?.lastSeq == 300)
        #expect(try reader.integrityCheck() == "ok")
    }

    @Test("samples read back exactly as written, with their batch context")
    func samplesReadBack() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        let context = SampleContext(batchId: "B-1", phase: "expansion", specFingerprint: "sha256:abc")
        store.append(sample("r1", cycle: 7, temperature: 37.25), context: context, parameters: parameters)
        await store.flush()
        store.close()
        let stored = try #require(try StoreReader(path: temp.path).samples(stream: .telemetry(device: "r1"), after: 0, limit: 10).first)
        #expect(stored.seq == 1 && stored.cycle == 7 && stored.device == "r1")
        #expect(stored.context == context)
        #expect(stored.time == Date(timeIntervalSince1970: 1_700_000_007))
        #expect(stored.readings == sample("r1", cycle: 7, temperature: 37.25).readings)
    }

    @Test("rows are committed in groups, not one transaction per row")
    func groupCommit() async throws {
        let temp = try TemporaryStore()
        let commits = CommitLog()
        let store = try temp.open {
            $0.commitRows = 100
            $0.commitInterval = .seconds(5)
        }
        store.setCommitHandler { commits.record($0) }
        for n in 0..<1000 { store.append(sample("r1", cycle: UInt64(n), temperature: 37), context: SampleContext(), parameters: parameters) }
        await store.flush()
        store.close()
        let ranges = commits.all.filter { $0.stream == StreamName.telemetry(device: "r1").description }
        #expect(ranges.map { $0.last - $0.first + 1 }.reduce(0, +) == 1000)
        #expect(ranges.count <= 20, "1000 rows in \(ranges.count) commits")
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.last + 1 == $1.first })
    }

    @Test("pruning removes only delivered rows older than the retention; undelivered rows stay")
    func pruning() async throws {
        let temp = try TemporaryStore()
        var store = try temp.open()
        for n in 0..<100 { store.append(sample("r1", cycle: UInt64(n), temperature: 37), context: SampleContext(), parameters: parameters) }
        await store.flush()
        store.markDelivered(stream: .telemetry(device: "r1"), through: 60)
        await store.flush()
        store.close()
        // Reopening runs maintenance at once; every sample is older than a zero retention.
        store = try temp.open {
            $0.retention = .zero
        }
        let pruned = await waitFor(upTo: .seconds(10)) {
            (try? StoreReader(path: temp.path).sequenceNumbers(stream: .telemetry(device: "r1")))?.first == 61
        }
        #expect(pruned)
        store.close()
        let reader = try StoreReader(path: temp.path)
        #expect(try reader.sequenceNumbers(stream: .telemetry(device: "r1")) == Array(61...100))
        #expect(try reader.streams().first { $0.stream == .telemetry(device: "r1") }?.deliveredSeq == 60)
    }

    @Test("the delivered watermark never passes the last committed row")
    func watermarkBounded() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        store.append(sample("r1", cycle: 0, temperature: 37), context: SampleContext(), parameters: parameters)
        await store.flush()
        store.markDelivered(stream: .telemetry(device: "r1"), through: 99)
        await store.flush()
        store.close()
        #expect(try StoreReader(path: temp.path).streams().first { $0.stream == .telemetry(device: "r1") }?.deliveredSeq == 1)
    }

    @Test("audit entries are committed before audit() returns and form an intact chain")
    func auditChain() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        let first = try await store.audit(AuditAction(user: "alice", action: "alarm.acknowledge", target: "r1/temperature/limit", reason: "checked"))
        let second = try await store.audit(AuditAction(user: "bob", action: "batch.start", target: "r1", newValue: "B-1"))
        // Entry 1 is the store's own record of its creation.
        #expect(first.seq == 2 && second.seq == 3)
        #expect(second.previousHash == first.hash)
        let reader = try StoreReader(path: temp.path)
        let entries = try reader.auditEntries()
        #expect(entries.first?.previousHash == AuditEntry.genesisHash)
        #expect(first.previousHash == entries.first?.hash)
        #expect(entries.map(\.hash) == [entries[0].hash, first.hash, second.hash], "readable before the store closes")
        store.close()
        let verification = try StoreReader(path: temp.path).verifyAudit()
        #expect(verification.isIntact && verification.entries == 3 && verification.lastHash == second.hash)
        #expect(try StoreReader(path: temp.path).auditEntries(.init(user: "bob")).map(\.seq) == [3])
    }

    @Test("a new store records its creation and epoch as its first audit entry; reopening keeps the epoch")
    func identity() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        let epoch = store.epoch
        #expect(epoch.count == 32 && epoch.allSatisfy(\.isHexDigit))
        await store.flush()
        store.close()
        let entries = try StoreReader(path: temp.path).auditEntries()
        #expect(entries.first?.action.action == "store.created" && entries.first?.action.newValue == "epoch=\(epoch)")
        let reopened = try temp.open()
        #expect(reopened.epoch == epoch)
        reopened.close()
        #expect(try StoreReader(path: temp.path).auditEntries().count == 1, "reopening adds no identity entry")

        let other = try TemporaryStore()
        let second = try other.open()
        #expect(second.epoch != epoch, "every store has its own epoch")
        second.close()
    }

    @Test("a store file deleted or replaced while open is noticed and makes the store unhealthy")
    func fileLoss() async throws {
        for replace in [false, true] {
            let temp = try TemporaryStore()
            let store = try temp.open()
            store.append(sample("r1", cycle: 0, temperature: 37), context: SampleContext(), parameters: parameters)
            await store.flush()
            #expect(store.isHealthy() && store.health.fileProblem == nil)
            if replace {
                // Moved aside and another file put in its place, as a restore from backup would.
                try FileManager.default.moveItem(atPath: temp.path, toPath: temp.path + ".moved")
                try Data("not a store".utf8).write(to: URL(fileURLWithPath: temp.path))
            } else {
                try FileManager.default.removeItem(atPath: temp.path)
            }
            store.append(sample("r1", cycle: 1, temperature: 37), context: SampleContext(), parameters: parameters)
            await store.flush()
            #expect(store.health.fileProblem == (replace ? .replaced : .deleted))
            #expect(!store.isHealthy())
            store.close()
        }
    }

    @Test("the store refuses to update or delete an audit row")
    func auditIsAppendOnly() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        _ = try await store.audit(AuditAction(user: "alice", action: "x", target: "y"))
        store.close()
        let connection = try SQLiteConnection(path: temp.path)
        #expect(throws: SQLiteError.self) { try connection.execute("UPDATE audit SET user = 'mallory'") }
        #expect(throws: SQLiteError.self) { try connection.execute("DELETE FROM audit") }
    }

    @Test("text is bound as its own bytes: empty, short, long and non-ASCII strings read back exactly, and empty is not NULL")
    func textBindsExactly() throws {
        let temp = try TemporaryStore()
        let connection = try SQLiteConnection(path: temp.path)
        try connection.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, s TEXT)")
        let texts: [String?] = ["", "a", "B-1", "bioreactor-12/telemetry", String(repeating: "sha256:0f", count: 40), "Zellkultur µ-Phase ✓", nil]
        let insert = try connection.prepare("INSERT INTO t (n, s) VALUES (?, ?)")
        for (n, text) in texts.enumerated() {
            insert.reset()
            insert.bind(1, Int64(n))
            insert.bind(2, text)
            try insert.run()
        }
        let read = try connection.prepare("SELECT s, s IS NULL AS missing, length(CAST(s AS BLOB)) AS bytes FROM t ORDER BY n")
        var back: [String?] = []
        while try read.step() {
            let missing = read.int64(1) == 1
            back.append(missing ? nil : read.text(0) ?? "")
            if !missing { #expect(Int(read.int64(2)) == back.last!!.utf8.count) }
        }
        #expect(back == texts)
    }

    @Test("a store written by a newer schema is refused with a clear error")
    func newerSchemaRefused() throws {
        let temp = try TemporaryStore()
        let connection = try SQLiteConnection(path: temp.path)
        try connection.execute("PRAGMA user_version = 99")
        #expect {
            _ = try temp.open()
        } throws: { error in
            (error as? SQLiteError)?.message.contains("newer than this software") == true
        }
    }

    @Test("readings encode compactly and decode to the same values", arguments: [0, 1, 2])
    func codecRoundTrip(seed: Int) async {
        await propertyCheck(count: 200, input: Gen.double(in: -1e9...1e9).array(of: 0...30), Gen.int(in: 0...2)) { values, q in
            let quality: Quality = [.good, .badCommunication, .badDevice][q]
            var readings = values.enumerated().map { Reading(parameterId: "p\($0.offset)", value: .number($0.element), quality: quality) }
            readings.append(Reading(parameterId: "flag", value: .flag(values.count.isMultiple(of: 2)), quality: .good))
            readings.append(Reading(parameterId: "text", value: .text("é-\(values.count)"), quality: .good))
            readings.append(Reading(parameterId: "none", value: nil, quality: .badCommunication))
            let bytes = SampleCodec.encode(readings)
            #expect(bytes.count <= readings.count * 9 + 20)
            #expect((try? SampleCodec.decode(bytes, parameters: readings.map(\.parameterId))) == readings)
        }
    }

    @Test("damaged reading bytes are an error, not a crash")
    func codecRejectsDamage() {
        let bytes = SampleCodec.encode(sample("r1", cycle: 0, temperature: 37).readings)
        #expect(throws: SampleCodec.DecodeError.self) { try SampleCodec.decode(Array(bytes.dropLast(3)), parameters: parameters) }
        #expect(throws: SampleCodec.DecodeError.self) { try SampleCodec.decode(bytes, parameters: parameters + ["extra"]) }
        #expect(throws: SampleCodec.DecodeError.self) { try SampleCodec.decode([0x0F], parameters: ["x"]) }
    }
}

@Suite("Audit chain verification")
struct AuditChainTests {
    func chain(_ count: Int) -> [AuditEntry] {
        var entries: [AuditEntry] = []
        var previous = AuditEntry.genesisHash
        for seq in 1...Int64(count) {
            let action = AuditAction(user: "u\(seq)", action: "a", target: "t", reason: seq.isMultiple(of: 2) ? "r" : nil)
            let hash = AuditEntry.hash(seq: seq, timeNanoseconds: seq * 1000, action: action, previousHash: previous)
            entries.append(AuditEntry(seq: seq, time: Date(timeIntervalSince1970: 0), timeNanoseconds: seq * 1000, action: action,
                                      previousHash: previous, hash: hash))
            previous = hash
        }
        return entries
    }

    @Test("an intact chain verifies")
    func intact() {
        #expect(AuditChain.verify(chain(10), recordedLast: 10).isIntact)
        #expect(AuditChain.verify([], recordedLast: 0).isIntact)
    }

    @Test("a changed entry is named")
    func changed() {
        var entries = chain(10)
        entries[3].action.reason = "rewritten"
        #expect(AuditChain.verify(entries, recordedLast: 10).problems.first == "entry 4 was changed: its content does not match its hash")
    }

    @Test("a removed entry is named, in the middle and at the end")
    func removed() {
        var entries = chain(10)
        entries.remove(at: 4)
        #expect(AuditChain.verify(entries, recordedLast: 10).problems.first == "entry 5 was removed")
        #expect(AuditChain.verify(Array(chain(10).prefix(8)), recordedLast: 10).problems.first == "entries 9...10 were removed")
    }

    @Test("an appended entry is named even with a well-formed hash")
    func inserted() {
        let entries = chain(11)
        #expect(AuditChain.verify(entries, recordedLast: 10).problems.first == "entry 11 was inserted: the store wrote only up to entry 10")
    }

    @Test("an entry replaced with a recomputed hash breaks the link to the next one")
    func replaced() {
        var entries = chain(10)
        let forged = AuditAction(user: "mallory", action: "a", target: "t")
        entries[4].action = forged
        entries[4].hash = AuditEntry.hash(seq: 5, timeNanoseconds: 5000, action: forged, previousHash: entries[4].previousHash)
        #expect(AuditChain.verify(entries, recordedLast: 10).problems.first?.hasPrefix("entry 6 does not chain to entry 5") == true)
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` passes; returns whether it held.
func waitFor(upTo limit: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
