import Foundation
import POCareCore
import SiteStore
import POCareContract
import Testing

@Suite("The write-ahead log")
struct WriteAheadLogTests {
    func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    @Test("the log is copied into the database file while the store runs, and stays bounded")
    func logCopiedWhileRunning() async throws {
        let temp = try TemporaryStore()
        let store = try temp.open()
        defer { store.close() }
        // Far more than the log's checkpoint threshold (1000 pages of 4 KiB), in many commits.
        for n in 0..<60_000 {
            store.append(sample("r\(n % 20)", cycle: UInt64(n), temperature: 37 + Double(n % 1000) / 1000), context: SampleContext(),
                         parameters: parameters)
            if n % 2000 == 1999 { await store.flush() }
        }
        await store.flush()
        let copied = await waitUntil { size(temp.path) > 4 << 20 }
        #expect(copied, "database file \(size(temp.path)) bytes, log \(size(temp.path + "-wal")) bytes")
        #expect(size(temp.path + "-wal") < 24 << 20, "log \(size(temp.path + "-wal")) bytes")
        let reader = try StoreReader(path: temp.path)
        #expect(try reader.streams().filter { $0.stream.isTelemetry }.map(\.lastSeq).reduce(0, +) == 60_000)
    }

    func waitUntil(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
