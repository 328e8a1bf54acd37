import Foundation
import POCareCore
import SiteStore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A frozen sensor and a lost device, with no batch running: each raises its alarm within the
/// time its profile sets, and reaches the operator (status, alarms, watch) and the Control Site.
@Suite("Every loss of monitoring is an alarm: simulator, daemon, broker and pocarectl", .serialized)
struct MonitoringLossEndToEndTests {
    @Test("a frozen DO sensor raises stale after its stale time from the last change, and a device lost outside a batch raises its communication alarm after its polls, at the profile's priority")
    func frozenSensorAndLostDevice() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The shipped profiles, with a short stale time for the tank's DO probe and a quick,
        // critical communication alarm for the rocker.
        let profiles = directory.appendingPathComponent("profiles")
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("DeviceProfiles"), to: profiles)
        let tank = profiles.appendingPathComponent("stirred-tank-str10.yaml"), rocker = profiles.appendingPathComponent("rocking-bag-rb50.yaml")
        try String(contentsOf: tank, encoding: .utf8)
            .replacingOccurrences(of: "type: uint16, scale: 0.1 }", with: "type: uint16, scale: 0.1, stale_after: 3s }", options: [], range: nil)
            .write(to: tank, atomically: true, encoding: .utf8)
        try String(contentsOf: rocker, encoding: .utf8)
            .replacingOccurrences(of: "communication_loss_polls: 5\n  communication_priority: high", with: "communication_loss_polls: 3\n  communication_priority: critical")
            .write(to: rocker, atomically: true, encoding: .utf8)
        #expect(try String(contentsOf: tank, encoding: .utf8).contains("id: dissolved_oxygen, name: Dissolved oxygen, unit: \"%\", table: holding_register, address: 2, type: uint16, scale: 0.1, stale_after: 3s }"))
        #expect(try String(contentsOf: rocker, encoding: .utf8).contains("communication_priority: critical"))

        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try RunningProcess("pocarectl", ["subscribe", "--broker", broker.url, "--client-id", "qa-watch"])
        defer { subscriber.stop() }
        _ = await waitFor(upTo: .seconds(10)) { broker.log.contains("Sending SUBACK to qa-watch") }
        let rockerPort = freeLoopbackPort(), tankPort = freeLoopbackPort()
        let simulator = try RunningProcess("pocare-sim", [
            "--device", "rocker-1=\(rocker.path)@127.0.0.1:\(rockerPort)", "--device", "str-1=\(tank.path)@127.0.0.1:\(tankPort)",
            "--fault", "device=str-1 kind=stuck parameter=dissolved_oxygen from=2s to=600s",
            "--fault", "device=rocker-1 kind=drop from=6s to=600s",
        ])
        defer { simulator.stop() }
        let storePath = directory.appendingPathComponent("site.db").path, socket = directory.appendingPathComponent("pocared.sock").path
        let config = directory.appendingPathComponent("site.yaml").path
        try """
            site: watch
            profile_dir: \(profiles.path)
            store: { path: \(storePath) }
            control: { socket: \(socket) }
            control_site: { broker: "\(broker.url)", client_id: site-watch }
            devices:
              - { id: rocker-1, profile: rocking-bag-rb50.yaml, address: "127.0.0.1:\(rockerPort)", poll_interval: 200ms }
              - { id: str-1, profile: stirred-tank-str10.yaml, address: "127.0.0.1:\(tankPort)", poll_interval: 200ms }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try RunningProcess("pocared", ["--config", config, "--log-level", "notice"])
        defer { daemon.stop() }
        func ctl(_ arguments: [String]) throws -> ProcessResult { try run("pocarectl", ["--socket", socket] + arguments) }
        func json(_ arguments: [String]) -> [String: Any]? {
            (try? ctl(["--json"] + arguments)).flatMap { try? JSONSerialization.jsonObject(with: Data($0.output.utf8)) as? [String: Any] }
        }
        func alarm(_ id: String) -> [String: Any]? { (json(["alarms"])?["alarms"] as? [[String: Any]])?.first { $0["alarm"] as? String == id } }
        func events(_ device: String) -> [StoredEvent] {
            (try? StoreReader(path: storePath).events(stream: .events(device: device), after: 0, limit: 100_000)) ?? []
        }

        // The frozen DO probe: stale, without a batch, timed from the last change of its value.
        let stale = "str-1/dissolved_oxygen/stale"
        #expect(await waitFor(upTo: .seconds(30)) { alarm(stale)?["state"] as? String == "active_unacknowledged" }, "\(daemon.errors.suffix(5))")
        let raised = try #require(events("str-1").first { $0.kind == "raised" && $0.alarm == stale })
        #expect(raised.batchId == nil)
        let samples = try StoreReader(path: storePath).samples(stream: .telemetry(device: "str-1"), after: 0, limit: 100_000)
        func oxygen(_ sample: StoredSample) -> Double? {
            guard let reading = sample.readings.first(where: { $0.parameterId == "dissolved_oxygen" }), reading.quality == .good, case .number(let v)? = reading.value else { return nil }
            return v
        }
        let upToRaise = samples.filter { $0.time <= raised.time && oxygen($0) != nil }
        let frozenValue = try #require(upToRaise.last.flatMap(oxygen))
        let lastChange = try #require(upToRaise.last { oxygen($0) != frozenValue }.flatMap { changed in upToRaise.first { $0.seq > changed.seq } })
        let before = try #require(upToRaise.dropLast().last)
        #expect(raised.time.timeIntervalSince(lastChange.time) >= 3, "not before its stale time")
        // The engine times staleness on the monotonic clock, samples carry wall-clock times: a poll
        // that falls on the stale time itself may read a hair short of it and raise at the next.
        #expect(before.time.timeIntervalSince(lastChange.time) < 3.002, "at the first poll once the stale time has passed")

        // The rocker drops off the network: its communication alarm after 3 polls, critical.
        let lostAlarm = "rocker-1/communication"
        #expect(await waitFor(upTo: .seconds(30)) { alarm(lostAlarm)?["state"] as? String == "active_unacknowledged" })
        #expect(alarm(lostAlarm)?["priority"] as? String == "critical")
        let lost = try #require(events("rocker-1").first { $0.kind == "communication_lost" })
        #expect(lost.batchId == nil && lost.body.contains("\"priority\":\"critical\""), "\(lost.body)")
        let polls = try StoreReader(path: storePath).samples(stream: .telemetry(device: "rocker-1"), after: 0, limit: 100_000)
        let lastGood = try #require(polls.last { $0.time < lost.time && $0.readings.contains { $0.quality == .good } })
        let atLoss = try #require(polls.first { $0.time == lost.time })
        let previous = try #require(polls.last { $0.seq < atLoss.seq })
        #expect(atLoss.cycle - lastGood.cycle >= 3 && previous.cycle - lastGood.cycle < 3, "raised at the third poll without a good value, missed ones counted")

        // The operator sees it in status and watch, with the polls missed so far.
        let rockerStatus = try #require((json(["status"])?["devices"] as? [[String: Any]])?.first { $0["id"] as? String == "rocker-1" })
        #expect(rockerStatus["communication"] as? String == "lost" && (rockerStatus["missed_polls"] as? Int ?? 0) >= 3, "\(rockerStatus)")
        let screen = try ctl(["watch", "--count", "1", "--width", "140", "--height", "30"])
        #expect(screen.output.contains("LOST") && screen.output.contains("rocker-1"), "\(screen.output)")

        // And the Control Site receives both from the stream.
        #expect(await waitFor(upTo: .seconds(20)) {
            subscriber.output.contains { $0.contains("communication_lost rocker-1/communication") }
                && subscriber.output.contains { $0.contains("raised \(stale)") }
        }, "\(subscriber.output.suffix(5))")
    }
}
