import Foundation
import Testing
import TestSupport

/// systemd stops `pocare-control run` with SIGTERM and kills it after its stop timeout; an
/// operator stopping it for maintenance must not wait on a database that is away.
@Suite("pocare-control run stops on SIGTERM whatever the database and the broker do", .serialized)
struct ControlSiteStopTests {
    let feed = SiteFeed(site: "site-a")

    func telemetry(_ range: ClosedRange<Int64>) -> [SiteFeed.Message] {
        stride(from: range.lowerBound, through: range.upperBound, by: 20).map {
            feed.telemetry("rocker-1", $0...min($0 + 19, range.upperBound), batch: "B1", phase: "expansion", spec: "sha256:aa")
        }
    }

    /// Sends SIGTERM and watches for the end for up to `limit` (the documented stop promise).
    func stopsWithin(_ limit: Duration, _ instance: SpawnedProcess) async -> Bool {
        instance.terminate()
        return await waitFor(upTo: limit) { !instance.isRunning }
    }

    @Test("with PostgreSQL stopped and messages waiting to be written, SIGTERM ends it within 5 s and it says what was not written")
    func databaseDown() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-stop-1")
        try rig.broker.publish(telemetry(1...100))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 100 })

        try rig.database.cluster.stopServer()
        try rig.broker.publish(telemetry(101...400))
        // The messages reached the instance and wait in its queue for the database.
        #expect(await waitFor(upTo: .seconds(20)) { instance.output.contains("cannot write to PostgreSQL") })

        #expect(await stopsWithin(.seconds(5), instance))
        #expect(instance.exitStatus == 0)
        #expect(instance.output.contains("stopped with messages not written"))
    }

    @Test("with the broker gone and PostgreSQL stopped, SIGTERM ends it within 5 s")
    func everythingDown() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-stop-2")
        rig.broker.stop()
        try rig.database.cluster.stopServer()
        #expect(await waitFor(upTo: .seconds(20)) { instance.output.contains("cannot reach the broker") })
        #expect(await stopsWithin(.seconds(5), instance))
        #expect(instance.exitStatus == 0)
    }
}

@Suite("pocare-control run under systemd: notify protocol and watchdog", .serialized)
struct ControlSiteServiceTests {
    @Test("READY once ingest runs, WATCHDOG while it is alive (also while the database is away), STOPPING on SIGTERM")
    func notifyAndWatchdog() async throws {
        let notify = try NotifySocket()
        let rig = try ControlSiteRig()
        let instance = try SpawnedProcess(
            "pocare-control", ["run", "--config", try rig.config(clientId: "control-notify")],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        #expect(await waitFor(upTo: .seconds(20)) { notify.count("READY=1") == 1 })
        #expect(await waitFor(upTo: .seconds(10)) { notify.count("WATCHDOG=1") >= 3 }, "pings every half interval")
        #expect(notify.all.contains { $0.contains("STATUS=broker connected") })

        // A database that is away is not a hung instance: it keeps pinging and says so.
        try rig.database.cluster.stopServer()
        try rig.broker.publish([SiteFeed(site: "site-a").telemetry("rocker-1", 1...5, batch: "B1", phase: "expansion", spec: "sha256:aa")])
        #expect(await waitFor(upTo: .seconds(20)) { notify.all.last?.contains("database NOT answering") == true })
        let pings = notify.count("WATCHDOG=1")
        #expect(await notify.waitForRounds(2))
        #expect(notify.count("WATCHDOG=1") > pings)

        instance.terminate()
        #expect(await waitFor(upTo: .seconds(5)) { !instance.isRunning })
        #expect(notify.count("STOPPING=1") == 1)
    }
}
