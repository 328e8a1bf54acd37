import Foundation
import SiteStore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The site configuration names a batch for the first start; after that the batches are the
/// operators'. A restart, a kill -9 or a reload never ends, restarts or re-phases one.
@Suite("The operator's batch across restarts, kill -9 and reloads", .serialized)
struct OperatorBatchRestartTests {
    let fixture: DaemonFixture

    init() throws { fixture = try DaemonFixture(pollInterval: "100ms") }

    func ctl(_ arguments: [String]) throws -> ProcessResult { try run("pocarectl", arguments + ["--socket", fixture.socketPath]) }

    func status() -> [String: Any]? {
        guard let answer = try? ctl(["status", "--json"]), answer.status == 0 else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any]
    }

    func device(_ id: String) -> [String: Any]? {
        (status()?["devices"] as? [[String: Any]])?.first { $0["id"] as? String == id }
    }

    /// A daemon that answers and has polled the rocker: what it decided about batches at start is decided.
    func startedDaemon() async throws -> RunningProcess {
        let daemon = try fixture.startDaemon()
        let ready = await waitFor(upTo: .seconds(30)) {
            guard let rocker = device("rocker-1") else { return false }
            return rocker["last_good_poll_s"] != nil && (rocker["configured_batch"] as? [String: Any])?["state"] as? String != "waiting for the device's first poll"
        }
        #expect(ready, "the daemon answers and has polled: \(daemon.errors.suffix(5))")
        return daemon
    }

    func batches() throws -> [String: (started: Int, resumed: Int, ended: Int)] {
        let events = try StoreReader(path: fixture.storePath).events(stream: .events(device: "rocker-1"), after: 0, limit: 100_000)
        var result: [String: (started: Int, resumed: Int, ended: Int)] = [:]
        for event in events {
            guard let batch = event.batchId else { continue }
            var counts = result[batch] ?? (0, 0, 0)
            if event.kind == "batch_started" { counts.started += 1 }
            if event.kind == "batch_resumed" { counts.resumed += 1 }
            if event.kind == "batch_ended" { counts.ended += 1 }
            result[batch] = counts
        }
        return result
    }

    @Test("configured batch, the operator ends it and starts another, restart twice, reload, with a kill -9 after every step: the operator's batch runs on, the configured one never comes back, only the operator ended a batch")
    func restartScenario() async throws {
        var daemon = try await startedDaemon()
        #expect(device("rocker-1")?["batch"] as? String == "DUR-1", "the configured batch starts at the first start")

        // kill -9 while it runs: resumed, not started again.
        daemon.kill9()
        daemon = try await startedDaemon()
        #expect(device("rocker-1")?["batch"] as? String == "DUR-1")

        // The operator ends it; kill -9 right after the answer: the end is on disk.
        let ended = try ctl(["batch", "end", "rocker-1", "--reason", "donor 17: run complete"])
        #expect(ended.status == 0, "\(ended.errors)")
        daemon.kill9()
        daemon = try await startedDaemon()
        #expect(device("rocker-1")?["batch"] == nil, "a batch id that ended is not started again")
        #expect((device("rocker-1")?["configured_batch"] as? [String: Any])?["state"] as? String == "not started: the batch id was used before")

        // The operator starts another, by the first 12 digits of the spec; kill -9 right after.
        let spec = try #require(try StoreReader(path: fixture.storePath).batches().first?.spec)
        let started = try ctl([
            "batch", "start", "rocker-1", "--batch", "OP-2", "--spec", String(spec.dropFirst("sha256:".count).prefix(12)),
            "--reason", "donor 18",
        ])
        #expect(started.status == 0, "\(started.errors)")
        // The rocker reports its phase: the new batch starts in it, not in the spec's first phase.
        #expect(started.output.contains("in phase expansion"), "\(started.output)")
        // Release is not required here (commissioning): the answer and the record say so.
        #expect(started.output.contains("note: spec \(spec) is not released for rocking-bag-rb50"), "\(started.output)")
        daemon.kill9()
        daemon = try await startedDaemon()
        #expect(device("rocker-1")?["batch"] as? String == "OP-2")

        // Restart twice, cleanly.
        for _ in 0..<2 {
            daemon.stop()
            daemon = try await startedDaemon()
            #expect(device("rocker-1")?["batch"] as? String == "OP-2")
        }

        // A reload of the same configuration changes nothing; kill -9 after it neither.
        let reloaded = try ctl(["reload", "--reason", "CC-12 unchanged"])
        #expect(reloaded.status == 0, "\(reloaded.errors)")
        #expect(device("rocker-1")?["batch"] as? String == "OP-2" && device("rocker-1")?["phase"] as? String == "expansion")
        let configured = try #require(device("rocker-1")?["configured_batch"] as? [String: Any])
        #expect(configured["batch"] as? String == "DUR-1" && (configured["state"] as? String)?.hasPrefix("not started") == true)
        daemon.kill9()
        daemon = try await startedDaemon()
        defer { daemon.stop() }
        #expect(device("rocker-1")?["batch"] as? String == "OP-2")
        let text = try ctl(["status"]).output
        #expect(text.contains("configured batch DUR-1: not started"), "status says why: \(text)")

        // What the store says: one start of each, one end (the operator's), OP-2 resumed after every restart.
        let counts = try batches()
        #expect(counts["DUR-1"]?.started == 1 && counts["DUR-1"]?.ended == 1, "\(counts)")
        #expect(counts["OP-2"]?.started == 1 && counts["OP-2"]?.ended == 0 && (counts["OP-2"]?.resumed ?? 0) >= 4, "\(counts)")
        let ends = try StoreReader(path: fixture.storePath).auditEntries().map(\.action).filter { $0.action == "batch.end" }
        #expect(ends.count == 1 && ends.first?.reason == "donor 17: run complete", "only the person ended a batch: \(ends)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(try ctl(["batch", "report", "DUR-1", "--json"]).output.utf8)) as? [String: Any])
        let release = try #require(report["spec_release"] as? [String: Any])
        #expect(release["state"] as? String == "not released" && release["release_required"] as? Bool == false, "\(release)")
        let running = try StoreReader(path: fixture.storePath).runningBatches()
        #expect(running.map(\.batch) == ["OP-2"])

        // pocared --check says in advance what the daemon says when it starts.
        let check = try run("pocared", ["--config", fixture.configPath, "--check"])
        #expect(check.status == 0)
        #expect(check.output.contains("configured batch DUR-1 will not start: device rocker-1 runs batch OP-2"), "\(check.output)")
    }

    @Test("a reload that removes the device of a running batch, or changes its profile, is refused naming the batch; the running configuration goes on")
    func reloadRefused() async throws {
        let daemon = try await startedDaemon()
        defer { daemon.stop() }
        #expect(device("rocker-1")?["batch"] as? String == "DUR-1")
        let original = try String(contentsOfFile: fixture.configPath, encoding: .utf8)

        // Without the rocker.
        let lines = original.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.contains("id: rocker-1") })
        try (lines[..<start] + lines[(start + 2)...]).joined(separator: "\n").write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let removed = try ctl(["reload", "--reason", "CC-13 rocker retired"])
        #expect(removed.status == 1 && removed.errors.contains("runs batch DUR-1") && removed.errors.contains("may not remove it"), "\(removed.errors)")

        // With another register map for the rocker.
        let profiles = fixture.directory.appendingPathComponent("profiles")
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("DeviceProfiles"), to: profiles)
        let rocker = profiles.appendingPathComponent("rocking-bag-rb50.yaml")
        try String(contentsOf: rocker, encoding: .utf8).replacingOccurrences(of: "address: 2, type: float32", with: "address: 40, type: float32")
            .write(to: rocker, atomically: true, encoding: .utf8)
        try original.replacingOccurrences(
            of: "profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)", with: "profile_dir: \(profiles.path)")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let changed = try ctl(["reload", "--reason", "CC-14 new firmware map"])
        #expect(changed.status == 1 && changed.errors.contains("runs batch DUR-1") && changed.errors.contains("may not change its profile"), "\(changed.errors)")

        #expect(device("rocker-1")?["batch"] as? String == "DUR-1", "the batch and its device go on")
        let refusals = try StoreReader(path: fixture.storePath).auditEntries().map(\.action).filter { $0.action == "config.reload.refused" }
        #expect(refusals.count == 2 && refusals.allSatisfy { $0.reason?.contains("DUR-1") == true })
        #expect(try StoreReader(path: fixture.storePath).auditEntries().map(\.action).contains { $0.action == "batch.end" } == false)
    }
}
