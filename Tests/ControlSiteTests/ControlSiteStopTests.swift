import Foundation
import Testing

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
