import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

/// The batch record as a QP reads it: time nobody watched is unmonitored, never in range; what
/// stands at the end is open, never cleared; and the record says who, why and with what.
@Suite("The batch IPC record", .serialized)
struct BatchRecordTests {
    func report(_ fixture: DaemonFixture, _ batch: String) throws -> [String: Any] {
        let result = try run("pocarectl", ["batch", "report", batch, "--json", "--socket", fixture.socketPath])
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.errors)")
    }

    @Test("a device unreachable for part of the batch shows as unmonitored time with its cause, not as time in range")
    func unreachableIsUnmonitored() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms", faults: ["device=rocker-1 kind=drop from=1s to=5s"], spec: fastSpec)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        // Wait until the device answers again after the drop.
        #expect(await waitFor(upTo: .seconds(30)) {
            let samples = (try? StoreReader(path: fixture.storePath).samples(stream: .telemetry(device: "rocker-1"), after: 0, limit: 100_000)) ?? []
            guard let lastBad = samples.lastIndex(where: { $0.readings.allSatisfy { $0.quality == .badCommunication } }) else { return false }
            return samples[lastBad...].filter { $0.readings.contains { $0.quality == .good } }.count >= 5
        })
        let ended = try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "run complete", "--socket", fixture.socketPath])
        #expect(ended.status == 0, "\(ended.errors)")

        let r = try report(fixture, "DUR-1")
        let intervals = try #require(r["unmonitored"] as? [[String: Any]])
        let unreachable = intervals.filter { $0["cause"] as? String == "device unreachable" }
        let unreachableSeconds = unreachable.compactMap { ($0["duration_s"] as? NSNumber)?.doubleValue }.reduce(0, +)
        #expect(unreachableSeconds >= 1, "\(intervals)")
        let phase = try #require((r["phases"] as? [[String: Any]])?.first)
        let rows = try #require(phase["parameters"] as? [[String: Any]])
        let temperature = try #require(rows.first { $0["parameter"] as? String == "temperature" })
        #expect(((temperature["unmonitored_pct"] as? NSNumber)?.doubleValue ?? 0) > 0, "\(temperature)")
        #expect(((temperature["monitored_s"] as? NSNumber)?.doubleValue ?? 0) > 0)
        #expect(temperature["standard_deviation"] != nil && temperature["time_weighted_mean"] != nil)
        #expect(!rows.contains { ["phase", "status"].contains($0["parameter"] as? String) }, "no statistics of states")
        let end = try #require(r["end"] as? [String: Any])
        #expect(end["reason"] as? String == "run complete" && end["by"] != nil)
        #expect(((r["phase_timeline"] as? [[String: Any]])?.count ?? 0) >= 1)
        let equipment = try #require(r["equipment"] as? [String: Any])
        #expect((equipment["profile_fingerprint"] as? String)?.hasPrefix("sha256:") == true && equipment["profile"] as? String == "rocking-bag-rb50")
        let clock = try #require(r["clock"] as? [String: Any])
        #expect(((clock["events"] as? [Any])?.count ?? 0) >= 1, "the clock state at start is on record")
        let human = try run("pocarectl", ["batch", "report", "DUR-1", "--socket", fixture.socketPath])
        #expect(human.output.contains("UNMONITORED") && human.output.contains("device unreachable"), "\(human.output)")
    }

    @Test("ending a batch in the middle of an excursion records it as open at batch end, and the alarm too")
    func openAtBatchEnd() async throws {
        let fixture = try DaemonFixture(
            pollInterval: "100ms", faults: ["device=rocker-1 kind=excursion parameter=temperature value=38.4 from=1s to=120s"], spec: fastSpec)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) {
            ((try? StoreReader(path: fixture.storePath).events(batch: "DUR-1")) ?? []).contains { $0.kind == "raised" }
        })
        #expect(try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "stopped early", "--socket", fixture.socketPath]).status == 0)
        let r = try report(fixture, "DUR-1")
        let excursion = try #require((r["excursions"] as? [[String: Any]])?.first)
        #expect(excursion["open_at_batch_end"] as? Bool == true)
        let alarm = try #require((r["alarms"] as? [[String: Any]])?.first { $0["alarm"] as? String == "rocker-1/temperature/limit" })
        #expect(alarm["open_at_batch_end"] as? Bool == true && alarm["cleared"] == nil)
        let events = try StoreReader(path: fixture.storePath).events(batch: "DUR-1").map(\.kind)
        #expect(events.contains("open_at_batch_end") && !events.contains("cleared"))
    }
}
