import Foundation
import POCareCore
import SiteStore
import Testing
import TestSupport

/// One batch run on two devices, through the real parts: the simulator, pocared, mosquitto,
/// pocare-control and PostgreSQL. Each device has its own record; the site's records, the
/// Control Site's batch check and comparability count the same excursions and means, by one rule.
@Suite("A batch on two devices, every view by one rule", .serialized)
struct TwoDeviceBatchTests {
    /// Temperature alarms with a 3 s on-delay and a 2 s off-delay, on both equipment models.
    static let spec = minimalSpecForTests
        .replacingOccurrences(of: "profiles: [rocking-bag-rb50]", with: "profiles: [rocking-bag-rb50, stirred-tank-str10]")
        .replacingOccurrences(of: "on_delay: 30s", with: "on_delay: 3s, off_delay: 2s")

    func json(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output) \(result.errors)")
    }

    @Test("two correct records, told apart by the Control Site; a spike shorter than the on-delay and an excursion before the off-delay counted alike everywhere")
    func twoDevices() async throws {
        let database = try TestPostgres()
        let broker = try TestBroker(extraConfig: "log_type all")
        let configPath = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: configPath) }
        try """
            broker: \(broker.url)
            client_id: control-two
            database: "\(database.postgresConnectionInfo)"
            sites: [durability]
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let control = try RunningProcess("pocare-control", ["run", "--config", configPath])
        defer { control.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { control.errors.contains { $0.contains("subscribed") } })
        let db = ["--database", database.postgresConnectionInfo]

        // rocker-1: 38.6 for one second (shorter than the 3 s on-delay), then 38.4 for five (the alarm stands, and clears 2 s after).
        let fixture = try DaemonFixture(
            pollInterval: "200ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-two }",
            faults: ["device=rocker-1 kind=excursion parameter=temperature value=38.6 from=4s to=5s",
                     "device=rocker-1 kind=excursion parameter=temperature value=38.4 from=9s to=14s"],
            spec: Self.spec)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let socket = ["--socket", fixture.socketPath]
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let list = try run("pocarectl", ["batch", "list", "--json"] + socket)
        let fingerprint = try #require(((try json(list))["batches"] as? [[String: Any]])?.first?["spec"] as? String, "\(list.output)")
        let second = try run("pocarectl", ["batch", "start", "str-1", "--batch", "DUR-1", "--spec", fingerprint, "--phase", "expansion",
                                            "--reason", "the same batch in the stirred tank"] + socket)
        #expect(second.status == 0, "\(second.errors)")
        // Past the excursion and the alarm's off-delay.
        #expect(await waitFor(upTo: .seconds(60)) {
            ((try? StoreReader(path: fixture.storePath).events(batch: "DUR-1")) ?? []).contains { $0.kind == "cleared" }
        })
        try await Task.sleep(for: .seconds(1))
        for device in ["rocker-1", "str-1"] {
            #expect(try run("pocarectl", ["batch", "end", device, "--reason", "run complete"] + socket).status == 0)
        }

        // The site: a record per device, each of its own device.
        let ambiguous = try run("pocarectl", ["batch", "report", "DUR-1"] + socket)
        #expect(ambiguous.status == 1 && ambiguous.errors.contains("ran on rocker-1, str-1") || ambiguous.errors.contains("ran on str-1, rocker-1"),
                "\(ambiguous.errors)")
        let rocker = try json(try run("pocarectl", ["batch", "report", "DUR-1", "--device", "rocker-1", "--json"] + socket))
        let tank = try json(try run("pocarectl", ["batch", "report", "DUR-1", "--device", "str-1", "--json"] + socket))
        #expect(rocker["device"] as? String == "rocker-1" && (rocker["equipment"] as? [String: Any])?["profile"] as? String == "rocking-bag-rb50")
        #expect(tank["device"] as? String == "str-1" && (tank["equipment"] as? [String: Any])?["profile"] as? String == "stirred-tank-str10")
        let stored = try StoreReader(path: fixture.storePath)
        for (record, device) in [(rocker, "rocker-1"), (tank, "str-1")] {
            let samples = try stored.samples(stream: .telemetry(device: device), after: 0, limit: 1_000_000).filter { $0.context.batchId == "DUR-1" }
            #expect(record["samples"] as? Int == samples.count, "\(device)")
        }

        // Excursions: the time outside the limits, whatever the alarm made of it.
        let excursions = try #require(rocker["excursions"] as? [[String: Any]])
        let temperature = excursions.filter { $0["parameter"] as? String == "temperature" }
        #expect(temperature.count == 2, "\(excursions)")
        let durations = temperature.compactMap { ($0["duration_s"] as? NSNumber)?.doubleValue }
        #expect(durations.count == 2 && durations[0] < 3 && durations[1] >= 4 && durations[1] <= 6, "\(durations)")
        let events = try stored.events(batch: "DUR-1").filter { $0.device == "rocker-1" }
        let limit = "rocker-1/temperature/limit"
        let raised = events.filter { $0.kind == "raised" && $0.alarm == limit }, cleared = events.filter { $0.kind == "cleared" && $0.alarm == limit }
        #expect(raised.count == 1 && cleared.count == 1, "the spike raised no alarm; the excursion one")
        let excursionEnd = try #require(temperature.last?["end"] as? String)
        let clearedAt = try #require(cleared.first).time
        #expect(try #require(UTCTime.parse(excursionEnd)) < clearedAt, "the alarm's off-delay comes after the excursion ended")

        // The Control Site: both records arrive; each is checked against its own device's samples, and agrees.
        var detail: [String: Any] = [:]
        #expect(await waitFor(upTo: .seconds(60)) {
            guard let d = try? json(try run("pocare-control", ["batch", "durability", "DUR-1", "--json", "--profiles", "DeviceProfiles"] + db)) else {
                return false
            }
            detail = d
            let checks = (d["site_records"] as? [[String: Any]]) ?? []
            return checks.count == 2 && checks.allSatisfy { ($0["differences"] as? [String]) == [] }
        }, "\(detail["site_records"] ?? "-")")
        let checks = try #require(detail["site_records"] as? [[String: Any]])
        #expect(Set(checks.compactMap { $0["device"] as? String }) == ["rocker-1", "str-1"])
        #expect(checks.allSatisfy { ($0["record"] as? [String: Any])?["device"] as? String == $0["device"] as? String })
        let statistics = try #require(detail["statistics"] as? [[String: Any]])
        let held = try #require(statistics.first { $0["device"] as? String == "rocker-1" }?["summary"] as? [String: Any])
        let heldExcursions = ((held["excursions"] as? [[String: Any]]) ?? []).filter { $0["parameter"] as? String == "temperature" }
        #expect(heldExcursions.compactMap { ($0["duration_s"] as? NSNumber)?.doubleValue } == durations)

        // Comparability takes the batch's numbers from its record, verified here by the same rule: the same mean.
        let release = try releaseThroughChangeControl("\(fixture.directory.path)/spec.yaml", database: database.postgresConnectionInfo)
        #expect(release.approval.status == 0, "\(release.request.output) \(release.request.errors) \(release.approval.errors)")
        let compared = try json(try run("pocare-control", ["compare", "--spec", fingerprint, "--phase", "expansion", "--reference", "durability",
                                                           "--profile", "rocking-bag-rb50", "--json", "--profiles", "DeviceProfiles"] + db))
        let batch = try #require((compared["batches"] as? [[String: Any]])?.first { $0["device"] as? String == "rocker-1" }, "\(compared)")
        let summary = try #require((batch["parameters"] as? [[String: Any]])?.first { $0["parameter"] as? String == "temperature" })
        let recordMean = try #require(((rocker["phases"] as? [[String: Any]])?.first { $0["phase"] as? String == "expansion" }?["parameters"] as? [[String: Any]])?
            .first { $0["parameter"] as? String == "temperature" }?["time_weighted_mean"] as? NSNumber).doubleValue
        let heldMean = try #require(((((held["phases"] as? [[String: Any]])?.first { $0["phase"] as? String == "expansion" })?["parameters"]
            as? [[String: Any]])?.first { $0["parameter"] as? String == "temperature" }?["time_weighted_mean"] as? NSNumber)?.doubleValue)
        #expect(abs(((summary["mean"] as? NSNumber)?.doubleValue ?? 0) - recordMean) < 1e-9 * abs(recordMean))
        #expect(abs(heldMean - recordMean) < 1e-9 * abs(recordMean), "the Control Site's own computation gives the record's mean")
        #expect(!((batch["reasons"] as? [String]) ?? []).contains { $0.contains("fails verification") }, "\(batch["reasons"] ?? "-")")

        // A message under a site the Control Site does not register is kept apart, never a site of its own.
        try broker.publish([("pocare/v1/ghost-site/status", "{\"schema\":\"pocare/v1/status\",\"site\":\"ghost-site\",\"state\":\"online\"}")])
        #expect(await waitFor(upTo: .seconds(20)) {
            let refused = (try? run("pocare-control", ["refused", "--json"] + db)).flatMap { try? JSONSerialization.jsonObject(with: Data($0.output.utf8)) }
            return ((refused as? [[String: Any]]) ?? []).contains { $0["claimed_site"] as? String == "ghost-site" }
        })
        let sites = try #require(try JSONSerialization.jsonObject(with: Data(try run("pocare-control", ["sites", "--json"] + db).output.utf8)) as? [[String: Any]])
        #expect(sites.map { $0["site"] as? String } == ["durability"])
    }
}
