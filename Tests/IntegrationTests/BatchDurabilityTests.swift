import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A restart never changes what a batch is held to.
@Suite("Batches across restarts of the daemon", .serialized)
struct BatchDurabilityTests {
    func ctl(_ fixture: DaemonFixture, _ arguments: [String]) throws -> ProcessResult {
        try run("pocarectl", arguments + ["--socket", fixture.socketPath])
    }

    func status(_ fixture: DaemonFixture) throws -> [String: Any]? {
        let result = try ctl(fixture, ["status", "--json"])
        return try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
    }

    func batch(of device: String, _ fixture: DaemonFixture) throws -> (batch: String?, phase: String?) {
        let devices = try status(fixture)?["devices"] as? [[String: Any]]
        let entry = devices?.first { $0["id"] as? String == device }
        return (entry?["batch"] as? String, entry?["phase"] as? String)
    }

    @Test("an operator's batch, its phase, its shelve and an alarm out of service survive a restart; the unwatched interval is recorded; the report keeps its spec")
    func operatorBatchResumes() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        var daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        #expect(await waitFor(upTo: .seconds(10)) { ((try? batch(of: "rocker-1", fixture))?.batch) == "DUR-1" })
        let spec = try #require(try StoreReader(path: fixture.storePath).runningBatches().first?.spec)

        let started = try ctl(fixture, [
            "batch", "start", "str-1", "--batch", "OP-1", "--spec", spec, "--phase", "activation", "--manual-phase", "--reason", "donor 17 run",
        ])
        #expect(started.status == 0, "\(started.errors) \(started.output)")
        #expect(try ctl(fixture, ["batch", "phase", "str-1", "expansion", "--reason", "day 3"]).status == 0)
        #expect(try ctl(fixture, ["shelve", "str-1/ph/limit", "--for", "2h", "--reason", "probe calibration"]).status == 0)
        #expect(try ctl(fixture, ["out-of-service", "str-1/dissolved_oxygen/limit", "--reason", "DO probe replaced"]).status == 0)
        #expect(await waitFor(upTo: .seconds(10)) { ((try? StoreReader(path: fixture.storePath).shelves()) ?? []).count == 1 })
        daemon.stop()

        daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { ((try? batch(of: "str-1", fixture))?.batch) == "OP-1" }, "the operator's batch runs again")
        #expect(try batch(of: "str-1", fixture).phase == "expansion", "in the phase it was in")
        #expect(try batch(of: "rocker-1", fixture).batch == "DUR-1", "the configured batch is resumed, not started anew")

        let events = try StoreReader(path: fixture.storePath).events(batch: "OP-1")
        let resumed = try #require(events.first { $0.kind == "batch_resumed" })
        #expect(resumed.body.contains("\"since\"") && resumed.body.contains("\"until\""), "\(resumed.body)")
        #expect(events.contains { $0.kind == "shelved" && $0.body.contains("kept across a restart") })
        #expect(events.filter { $0.kind == "batch_started" }.count == 1, "one start, then a resume")
        let audit = try StoreReader(path: fixture.storePath).auditEntries().map(\.action.action)
        #expect(audit.filter { $0 == "batch.resume" }.count == 2)

        let returned = try ctl(fixture, ["in-service", "str-1/dissolved_oxygen/limit", "--reason", "probe calibrated"])
        #expect(returned.status == 0, "still out of service after the restart: \(returned.errors)")
        #expect(try ctl(fixture, ["batch", "end", "str-1", "--reason", "run complete"]).status == 0)
        #expect(await waitFor(upTo: .seconds(10)) { ((try? StoreReader(path: fixture.storePath).shelves()) ?? []).isEmpty },
                "the shelve ended with its batch")
        let report = try ctl(fixture, ["batch", "report", "OP-1", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.output.utf8)) as? [String: Any])
        #expect((json["spec_document"] as? String)?.contains("IPC-CART-EXAMPLE-001") == true, "\(report.output.prefix(400))")
    }
}

@Suite("Batch records across restarts", .serialized)
struct BatchRecordRestartTests {
    @Test("a restart in the middle of an excursion: the batch resumes, the alarm stands again, and an ended batch's report reads the same before and after a restart")
    func restartMidExcursion() async throws {
        let fixture = try DaemonFixture(
            pollInterval: "100ms", faults: ["device=rocker-1 kind=excursion parameter=temperature value=38.4 from=1s to=600s"], spec: fastSpec)
        var daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) {
            ((try? StoreReader(path: fixture.storePath).events(batch: "DUR-1")) ?? []).contains { $0.kind == "raised" }
        })
        daemon.kill9()
        // The scenario itself, not a wait for a condition: the daemon stays down for longer than
        // the record lets one sample's values hold (three poll intervals, two seconds at least).
        try await Task.sleep(for: .seconds(3))

        daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        // Evaluated again from the first new sample: the excursion that goes on is raised again.
        #expect(await waitFor(upTo: .seconds(20)) {
            let kinds = ((try? StoreReader(path: fixture.storePath).events(batch: "DUR-1")) ?? []).map(\.kind)
            return kinds.contains("batch_resumed") && kinds.filter { $0 == "raised" }.count >= 2
        })
        let ctl = { (arguments: [String]) throws -> ProcessResult in try run("pocarectl", arguments + ["--socket", fixture.socketPath]) }
        #expect(try ctl(["batch", "end", "rocker-1", "--reason", "run complete"]).status == 0)
        let before = try ctl(["batch", "report", "DUR-1", "--json"]).output
        let report = try #require(try JSONSerialization.jsonObject(with: Data(before.utf8)) as? [String: Any])
        let intervals = (report["unmonitored"] as? [[String: Any]]) ?? []
        #expect(intervals.contains { $0["cause"] as? String == "daemon not running" }, "\(intervals)")
        #expect(((report["excursions"] as? [[String: Any]]) ?? []).contains { $0["open_at_batch_end"] as? Bool == true })

        daemon.stop()
        daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) { (try? ctl(["status"]).status) == 0 })
        let after = try ctl(["batch", "report", "DUR-1", "--json"]).output
        #expect(after == before, "the record of an ended batch does not change with a restart")
    }
}

@Suite("Latched alarms across restarts", .serialized)
struct LatchRestartTests {
    @Test("a latched alarm still stands after a restart, annunciated again, until an operator resets it")
    func latchSurvivesRestart() async throws {
        let fixture = try DaemonFixture(
            pollInterval: "100ms", faults: ["device=rocker-1 kind=flag parameter=bag_present value=false from=4s to=6s"],
            spec: discreteSpec)
        var daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        func ctl(_ arguments: [String]) throws -> ProcessResult { try run("pocarectl", ["--socket", fixture.socketPath] + arguments) }
        func state(_ id: String) -> String? {
            let alarms = (try? ctl(["--json", "alarms"])).flatMap { try? JSONSerialization.jsonObject(with: Data($0.output.utf8)) as? [String: Any] }
            return ((alarms?["alarms"] as? [[String: Any]])?.first { $0["alarm"] as? String == id })?["state"] as? String
        }
        let bag = "rocker-1/bag_present/discrete"
        #expect(await waitFor(upTo: .seconds(20)) { state(bag) == "latched" })
        daemon.stop()

        daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { state(bag) == "latched" }, "the latch is restored")
        #expect(try ctl(["reset", bag, "--reason", "bag re-seated after the restart"]).status == 0)
        #expect(await waitFor(upTo: .seconds(10)) { ((try? StoreReader(path: fixture.storePath).latches()) ?? []).isEmpty })
    }
}

@Suite("A batch record lost to a stop", .serialized)
struct MissingBatchRecordTests {
    @Test("a batch that ended just before the daemon stopped, without its record, gets it committed at the next start")
    func recordCommittedAtStart() async throws {
        let fixture = try DaemonFixture(pollInterval: "200ms")
        // What a kill -9 between the end and its record leaves: the end on record, no record.
        let store = try SiteStore(settings: SiteStore.Settings(path: fixture.storePath))
        let started = Date(timeIntervalSinceNow: -60), ended = Date(timeIntervalSinceNow: -30)
        store.append(EventRecord(
            stream: .events(device: "rocker-1"), device: "rocker-1", time: started, kind: "batch_started", batchId: "LOST-1",
            specFingerprint: "sha256:00", body: #"{"kind":"batch_started","device":"rocker-1","time":"x"}"#,
            stateChange: .started(
                RunningBatch(device: "rocker-1", batch: "LOST-1", spec: "sha256:00", phase: "expansion", followDevicePhase: false,
                             started: started, startedBy: "alice", reason: "run"), spec: nil)))
        store.append(EventRecord(
            stream: .events(device: "rocker-1"), device: "rocker-1", time: ended, kind: "batch_ended", batchId: "LOST-1",
            specFingerprint: "sha256:00", body: #"{"kind":"batch_ended","device":"rocker-1","time":"x"}"#,
            stateChange: .ended(device: "rocker-1", batch: "LOST-1", at: ended, by: "alice", reason: "done")))
        await store.flush()
        store.close()
        #expect(try StoreReader(path: fixture.storePath).endedBatchesWithoutRecord().map(\.batch) == ["LOST-1"])

        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) {
            ((try? StoreReader(path: fixture.storePath).events(batch: "LOST-1")) ?? []).contains { $0.kind == "batch_record" }
        })
        #expect(try StoreReader(path: fixture.storePath).endedBatchesWithoutRecord().isEmpty)
    }
}
