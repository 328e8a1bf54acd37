import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

/// pocare-control run against a real mosquitto and a real PostgreSQL, fed contract messages.
final class ControlSiteRig: @unchecked Sendable {
    let database: IngestDatabase
    let broker: TestBroker
    let directory: URL

    init() throws {
        database = try IngestDatabase()
        broker = try TestBroker()
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pocare-control-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A control.yaml for one instance.
    func config(clientId: String, shared: String? = nil, extra: String = "") throws -> String {
        let path = directory.appendingPathComponent("\(clientId).yaml").path
        try """
            broker: \(broker.url)
            client_id: \(clientId)
            mqtt_version: "\(shared == nil ? "3.1.1" : "5")"
            \(shared.map { "shared_group: \($0)" } ?? "")
            database: "\(database.connectionInfo)"
            batch_messages: 50
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts an instance and waits until the broker has its subscription.
    func startInstance(clientId: String, shared: String? = nil, extra: String = "") async throws -> SpawnedProcess {
        let instance = try SpawnedProcess("pocare-control", ["run", "--config", try config(clientId: clientId, shared: shared, extra: extra)])
        let subscribed = await waitFor(upTo: .seconds(20)) { instance.output.contains("subscribed") }
        guard subscribed else { throw TestFailure("pocare-control did not subscribe: \(instance.output)") }
        return instance
    }

    func samples() throws -> Int { try database.count("SELECT count(*) FROM samples") }

    /// Publishes as a site does: its devices known first (their metadata, and their names as a birth leaves them).
    func publish(_ messages: [SiteFeed.Message], retain: Bool = false) throws {
        try database.announce(messages)
        try broker.publish(messages, retain: retain)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

@Suite("pocare-control run with a real broker and a real PostgreSQL", .serialized)
struct IngestEndToEndTests {
    let feed = SiteFeed(site: "site-a")

    func telemetry(_ range: ClosedRange<Int64>, per message: Int64 = 20) -> [SiteFeed.Message] {
        stride(from: range.lowerBound, through: range.upperBound, by: Int(message)).map {
            feed.telemetry("rocker-1", $0...min($0 + message - 1, range.upperBound), batch: "B1", phase: "expansion", spec: "sha256:aa")
        }
    }

    @Test("every record arrives once across a broker outage and a kill -9 of pocare-control; resends are dropped")
    func outageAndKill() async throws {
        let rig = try ControlSiteRig()
        var instance = try await rig.startInstance(clientId: "control-1")
        try rig.broker.publish([feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: "B1", phase: "expansion", spec: "sha256:aa")])], retain: true)
        try rig.publish(telemetry(1...200) + feed.audit(5) + [feed.event("rocker-1", seq: 1, kind: "batch_started", batch: "B1")])
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 200 })

        // The broker goes away and comes back with its persisted sessions; the site resumes.
        rig.broker.stop()
        try await Task.sleep(for: .seconds(1))
        try rig.broker.start()
        try rig.publish(telemetry(201...400))
        #expect(try await waitFor(upTo: .seconds(60)) { try rig.samples() == 400 })

        // pocare-control dies without a word; the broker queues for its persistent session,
        // and a site resends what it had already sent.
        instance.kill9()
        try rig.publish(telemetry(401...600) + telemetry(101...200, per: 25))
        instance = try await rig.startInstance(clientId: "control-1")
        #expect(try await waitFor(upTo: .seconds(60)) { try rig.samples() == 600 })
        try await Task.sleep(for: .milliseconds(500))

        let db = rig.database
        #expect(try rig.samples() == 600)
        #expect(try db.count("SELECT count(DISTINCT seq) FROM samples WHERE seq BETWEEN 1 AND 600") == 600)
        #expect(try db.scalar("SELECT contiguous || '/' || highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "600/600")
        #expect(try db.count("SELECT count(*) FROM audit_entries") == 5)
        #expect(try db.count("SELECT count(*) FROM integrity_findings") == 0)
        #expect(try db.count("SELECT duplicates FROM streams WHERE stream = 'rocker-1/telemetry'") >= 100)
        #expect(try db.scalar("SELECT state FROM sites WHERE site = 'site-a'") == "online")
        instance.stop()
        #expect(!instance.isRunning)
    }

    @Test("two instances on an MQTT 5 shared subscription store every record exactly once")
    func sharedSubscription() async throws {
        let rig = try ControlSiteRig()
        let a = try await rig.startInstance(clientId: "control-a", shared: "control")
        let b = try await rig.startInstance(clientId: "control-b", shared: "control")
        // Each message twice, as a site's resend after a reconnect would send it.
        let messages = telemetry(1...1000, per: 10)
        try rig.publish(messages + messages)
        #expect(try await waitFor(upTo: .seconds(60)) { try rig.samples() == 1000 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(try rig.samples() == 1000)
        // Out-of-order arrival across instances may open a gap for a moment; none stays open,
        // and no copy differed.
        #expect(try rig.database.count("SELECT count(*) FROM integrity_findings WHERE resolved IS NULL") == 0)
        #expect(try rig.database.count("SELECT count(*) FROM integrity_findings WHERE kind <> 'gap'") == 0)
        #expect(try rig.database.scalar("SELECT contiguous FROM streams") == "1000")
        // Both took part.
        let log = rig.broker.log
        #expect(log.contains("Sending PUBLISH to control-a") && log.contains("Sending PUBLISH to control-b"))
        a.stop()
        b.stop()
    }

    @Test("a gap at the site becomes an open integrity finding, and is logged once it persists")
    func gap() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-gap", extra: "gap_report_after: 1s")
        try rig.publish(telemetry(1...40) + telemetry(61...100))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 80 })
        #expect(try await waitFor(upTo: .seconds(10)) {
            try rig.database.scalar("SELECT seq_from || '...' || seq_to FROM integrity_findings WHERE kind = 'gap' AND resolved IS NULL") == "41...60"
        })
        #expect(await waitFor(upTo: .seconds(30)) { instance.output.contains("records missing for longer") && instance.output.contains("41...60") })
        instance.stop()
    }
}
