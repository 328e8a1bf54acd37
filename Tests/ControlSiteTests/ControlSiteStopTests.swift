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
        try rig.publish(telemetry(1...100))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 100 })

        try rig.database.cluster.stopServer()
        try rig.publish(telemetry(101...400))
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

@Suite("pocare-control run serves Prometheus metrics", .serialized)
struct ControlSiteMetricsTests {
    @Test("records received per site, writes and their time, queue depth, and per site from the database: open gaps and findings, replay requests, online, the newest record's age")
    func scrapeTheControlSite() async throws {
        let rig = try ControlSiteRig()
        let port = freeLoopbackPort()
        let instance = try await rig.startInstance(
            clientId: "control-metrics", extra: "metrics: { address: \"127.0.0.1:\(port)\" }\nreplay_after: 1s\ncompact_every: 1s")
        defer { instance.stop() }
        // A store epoch, so the Control Site can address a replay request to it.
        let feed = SiteFeed(site: "site-a", epoch: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        try rig.broker.publish([feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: "B1", phase: "expansion", spec: "sha256:aa")])], retain: true)
        // Records 1...40 and 61...80: 41...60 are missing.
        try rig.publish([feed.telemetry("rocker-1", 1...40, batch: "B1", phase: "expansion", spec: "sha256:aa"),
                                feed.telemetry("rocker-1", 61...80, batch: "B1", phase: "expansion", spec: "sha256:aa")])
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 60 })
        func scrape() throws -> (text: String, metrics: [String: Double]) {
            let result = try runCommand("/usr/bin/curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/metrics"])
            var m: [String: Double] = [:]
            for line in result.output.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                m[String(line[..<space])] = value
            }
            return (result.output, m)
        }
        // The missing numbers stay open past replay_after: the site is asked for them (nobody answers here).
        #expect(try await waitFor(upTo: .seconds(20)) {
            try scrape().metrics["pocare_control_site_replay_requests_total{site=\"site-a\"}"] ?? 0 >= 1
        }, "\(instance.output.suffix(2000))")
        let (text, m) = try scrape()
        #expect(m["pocare_control_records_received_total{site=\"site-a\"}"] == 60, "\(text)")
        #expect(m["pocare_control_messages_received_total{site=\"site-a\"}"] == 2)
        #expect((m["pocare_control_site_open_findings{site=\"site-a\"}"] ?? 0) >= 1, "the gap is a finding")
        #expect((m["pocare_control_site_replay_requests_waiting{site=\"site-a\"}"] ?? 0) >= 1, "no site answered")
        #expect(text.contains("# TYPE pocare_control_signatures_total counter"))
        // Compaction's passes (every second here), so an operator sees whether it keeps up.
        #expect(try await waitFor(upTo: .seconds(20)) { try scrape().metrics["pocare_control_compaction_passes_total"] ?? 0 >= 1 })
        let compacted = try scrape().metrics
        #expect(compacted["pocare_control_compaction_failures_total"] == 0 && compacted["pocare_control_compaction_last_pass_seconds"] != nil)
        #expect(compacted["pocare_control_compaction_records_total"] != nil)
        #expect(m["pocare_control_records_total{outcome=\"inserted\"}"] == 60)
        #expect((m["pocare_control_database_write_seconds_count"] ?? 0) >= 1)
        #expect(m["pocare_control_ingest_queue_messages"] == 0)
        #expect(m["pocare_control_broker_connected"] == 1)
        #expect(m["pocare_control_database_up"] == 1)
        #expect(m["pocare_control_site_online{site=\"site-a\"}"] == 1)
        #expect(m["pocare_control_site_open_gaps{site=\"site-a\"}"] == 1)
        #expect(m["pocare_control_site_newest_record_age_seconds{site=\"site-a\"}"] != nil)
    }
}
