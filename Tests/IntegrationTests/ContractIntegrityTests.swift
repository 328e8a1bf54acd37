import Foundation
import SiteStore
import Testing

/// Every record message carries its store's epoch and its chain hashes; the reference consumer
/// checks continuity per stream and notices a replaced store.
@Suite("Integrity on the wire through a real mosquitto broker", .serialized)
struct ContractIntegrityTests {
    @Test("epoch and chain hashes on the wire; pocarectl subscribe names a rewritten chain and a replaced store")
    func chainAndEpoch() async throws {
        let broker = try Broker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-chain")
        defer { subscriber.stop() }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-chain }")
        var daemon = try fixture.startDaemon()
        let telemetryArrived = { (messages: [[String: Any]], count: Int) in
            messages.filter { ($0["stream"] as? String) == "rocker-1/telemetry" }.count >= count
        }
        #expect(await waitFor(upTo: .seconds(30)) { telemetryArrived(payloads(subscriber.output), 5) })
        daemon.stop()
        _ = await waitFor(upTo: .seconds(10)) {
            (try? StoreReader(path: fixture.storePath).streams())?.allSatisfy { $0.deliveredSeq == $0.lastSeq } == true
        }

        // What arrived carries the store's epoch, and the hashes the store holds.
        let reader = try StoreReader(path: fixture.storePath)
        let epoch = try reader.epoch()
        let stored = try reader.samples(stream: .telemetry(device: "rocker-1"), after: 0, limit: 100_000)
        let messages = payloads(subscriber.output)
        let records = messages.filter { $0["stream"] != nil }
        #expect(!records.isEmpty && records.allSatisfy { ($0["epoch"] as? String) == epoch }, "every record message names epoch \(epoch)")
        let births = messages.filter { ($0["schema"] as? String) == "pocare/v1/status" && ($0["state"] as? String) == "online" }
        #expect(!births.isEmpty && births.allSatisfy { ($0["epoch"] as? String) == epoch })
        var wireHashes: [Int64: String] = [:]
        for message in records where (message["stream"] as? String) == "rocker-1/telemetry" {
            for sample in message["samples"] as? [[String: Any]] ?? [] {
                if let seq = (sample["seq"] as? NSNumber)?.int64Value, let hash = sample["hash"] as? String { wireHashes[seq] = hash }
            }
        }
        #expect(!stored.isEmpty && stored.allSatisfy { wireHashes[$0.seq] == $0.hash })
        let firstTelemetry = records.first { ($0["stream"] as? String) == "rocker-1/telemetry" }
        #expect((firstTelemetry?["previous_hash"] as? String) == RecordChain.genesis)
        #expect(!subscriber.errors.contains { $0.contains("chain broken") })

        // Someone rewrites the last delivered sample and the chain's head (as a forger who
        // recomputes hashes would): the next sample published is chained on the forged hash.
        let last = try #require(stored.last)
        let forged = String(repeating: "ab", count: 32)
        #expect(runCommand("/usr/bin/sqlite3", [fixture.storePath, """
            UPDATE samples SET hash = '\(forged)' WHERE stream = 'rocker-1/telemetry' AND seq = \(last.seq);
            UPDATE streams SET head_hash = '\(forged)' WHERE stream = 'rocker-1/telemetry';
            """]) == 0)
        daemon = try fixture.startDaemon()
        let broken = await waitFor(upTo: .seconds(30)) {
            subscriber.errors.contains { $0.contains("chain broken") && $0.contains("rocker-1/telemetry at \(last.seq + 1)") }
        }
        #expect(broken, "\(subscriber.errors.suffix(10))")
        daemon.stop()

        // The store is lost and made anew: the consumer hears of a new epoch, not of a gap or a break.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fixture.storePath + suffix) }
        let before = payloads(subscriber.output).count
        daemon = try fixture.startDaemon()
        let replaced = await waitFor(upTo: .seconds(30)) { subscriber.errors.contains { $0.contains("new epoch") } }
        #expect(replaced, "\(subscriber.errors.suffix(10))")
        #expect(await waitFor(upTo: .seconds(30)) { telemetryArrived(Array(payloads(subscriber.output).dropFirst(before)), 2) })
        daemon.stop()
        let newEpoch = try StoreReader(path: fixture.storePath).epoch()
        #expect(newEpoch != epoch)
        #expect(subscriber.errors.contains { $0.contains("new epoch") && $0.contains(newEpoch) })
        let breaks = subscriber.errors.filter { $0.contains("chain broken") }
        #expect(breaks.count == 1, "only the forged link is reported: \(breaks)")
    }
}
