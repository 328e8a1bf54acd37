import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The fast spec with discrete alarms on the rocking bag's flags and status: a latched,
/// critical alarm when the bag leaves its platform, a high one while the controller reports
/// a fault.
let discreteSpec = fastSpec + """

        bag_present: { alarm_when: false, level: action, priority: critical, latch: true }
        status: { alarm_labels: [fault], on_delay: 1s, priority: high }
      harvest:
        temperature: { unit: Cel, alert_low: 35, alert_high: 38 }
    """

@Suite("Discrete and latched alarms, out of service: simulator, daemon, broker and pocarectl", .serialized)
struct DiscreteAlarmEndToEndTests {
    @Test("flag and status faults raise discrete alarms that reach the Control Site; latch, reset, out of service, report, watch")
    func discreteAlarmsEndToEnd() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        // Summary lines, as an engineer at the Control Site reads them.
        let subscriber = try RunningProcess("pocarectl", [
            "subscribe", "--broker", broker.url, "--client-id", "qa-discrete",
        ])
        defer { subscriber.stop() }
        _ = await waitFor(upTo: .seconds(10)) { broker.log.contains("Sending SUBACK to qa-discrete") }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-discrete }",
            faults: [
                "device=rocker-1 kind=flag parameter=bag_present value=false from=2s to=3s",
                "device=rocker-1 kind=status parameter=status value=fault from=2s to=5s",
            ],
            spec: discreteSpec)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let me = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        let socket = fixture.socketPath
        // Global options first, as kubectl and systemctl users type them.
        func ctl(_ arguments: [String]) throws -> ProcessResult { try run("pocarectl", ["--socket", socket] + arguments) }
        func alarms() -> [String: Any]? {
            (try? run("pocarectl", ["--socket", socket, "--json", "alarms"])).flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.output.utf8)) as? [String: Any]
            }
        }
        func alarm(_ id: String) -> [String: Any]? { (alarms()?["alarms"] as? [[String: Any]])?.first { $0["alarm"] as? String == id } }

        let bag = "rocker-1/bag_present/discrete"
        let status = "rocker-1/status/discrete"
        // The bag is back after a second, but the alarm stays latched until someone resets it.
        #expect(await waitFor(upTo: .seconds(20)) { alarm(bag)?["state"] as? String == "latched" }, "\(alarms() ?? [:])")
        #expect(alarm(bag)?["priority"] as? String == "critical")
        #expect(await waitFor(upTo: .seconds(20)) {
            (try? StoreReader(path: fixture.storePath).events(batch: "DUR-1"))?.contains { $0.kind == "excursion" && $0.alarm == status } == true
        }, "the fault status raised its alarm and, once over, closed its excursion")

        // Reset: a reason is required and the alarm must be latched.
        #expect(try ctl(["reset", bag]).status == 2)
        #expect(try ctl(["reset", bag, "--reason", " "]).status == 1)
        #expect(try ctl(["reset", "rocker-1/temperature/limit", "--reason", "x"]).status == 1, "not latched")
        let reset = try ctl(["reset", bag, "--reason", "bag re-seated, integrity checked"])
        #expect(reset.status == 0, "\(reset.errors)")
        #expect(reset.output.contains("reset \(bag) as \(me)"))
        #expect(alarm(bag)?["state"] as? String == "returned_unacknowledged", "the reset leaves the acknowledgement owed")
        #expect(try ctl(["ack", bag, "--reason", "seen"]).status == 0)
        #expect(try ctl(["ack", status, "--reason", "controller fault cleared"]).status == 0)

        // Out of service: a whole device and one alarm, listed in status and alarms until returned.
        #expect(try ctl(["out-of-service", "str-1", "--reason", "WO-1240: preventive maintenance"]).status == 0)
        #expect(try ctl(["out-of-service", "str-1", "--reason", "again"]).status == 1, "already out of service")
        #expect(try ctl(["out-of-service", "rocker-1/temperature/limit", "--reason", "WO-1234: probe replacement"]).status == 0)
        #expect(try ctl(["out-of-service", "nowhere", "--reason", "x"]).status == 1)
        let shown = try ctl(["status"])
        #expect(shown.output.contains("out of service") && shown.output.contains("WO-1240"), "\(shown.output)")
        let listed = (alarms()?["out_of_service"] as? [[String: Any]])?.compactMap { $0["target"] as? String } ?? []
        #expect(Set(listed) == ["str-1", "rocker-1/temperature/limit"])
        #expect(try ctl(["--no-color", "alarms"]).output.contains("WO-1234"))

        // The watch fits a 24-line terminal and shows the site, the legend and what is out of service.
        let screen = try ctl(["--no-color", "watch", "--count", "1", "--width", "80", "--height", "24"])
        #expect(screen.status == 0, "\(screen.errors)")
        let lines = screen.output.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count <= 24 && lines.allSatisfy { $0.count <= 80 }, "\(screen.output)")
        #expect(screen.output.contains("rocker-1") && screen.output.contains("str-1") && screen.output.contains("out of service"))
        #expect(screen.output.contains("yellow alert"), "the legend")
        #expect(!screen.output.contains("\u{1B}["), "no colour with --no-color")
        let device = try ctl(["watch", "rocker-1", "--count", "2", "--every", "0.2", "--height", "24", "--width", "100"])
        #expect(device.status == 0 && device.output.contains("bag_present") && device.output.contains("alarm when false"), "\(device.output)")

        #expect(try ctl(["in-service", "rocker-1/temperature/limit", "--reason", "WO-1234 closed"]).status == 0)
        #expect(try ctl(["in-service", "str-1", "--reason", "WO-1240 closed"]).status == 0)
        #expect(try ctl(["in-service", "str-1", "--reason", "again"]).status == 1, "not out of service")
        #expect((alarms()?["out_of_service"] as? [[String: Any]])?.isEmpty == true)

        // Every action is in the audit trail with the user, the reason and the new value.
        let audit = try StoreReader(path: fixture.storePath).auditEntries().map(\.action)
        let resetEntry = try #require(audit.first { $0.action == "alarm.reset" })
        #expect(resetEntry.user == me && resetEntry.target == bag && resetEntry.reason == "bag re-seated, integrity checked")
        #expect(audit.filter { $0.action == "alarm.out_of_service" }.map(\.target).sorted() == ["rocker-1/temperature/limit", "str-1"])
        #expect(audit.filter { $0.action == "alarm.in_service" }.count == 2)
        #expect(audit.filter { $0.action == "alarm.acknowledge" }.allSatisfy { $0.newValue != nil }, "an acknowledgement records the state it leads to")

        // A phase change with a reason, then the batch end and its report. The rocker reports its
        // phase and the batch follows it: a change by hand is refused, naming the register, until
        // the operator stops following the device.
        let refused = try ctl(["batch", "phase", "rocker-1", "harvest", "--reason", "harvest day"])
        #expect(refused.status == 1 && refused.errors.contains("holding_register 111"), "\(refused.errors)")
        #expect(try ctl(["batch", "phase", "rocker-1", "harvest", "--stop-following-device", "--reason", "harvest day"]).status == 0)
        #expect(try ctl(["batch", "end", "rocker-1", "--reason", "run complete"]).status == 0)
        #expect(await waitFor(upTo: .seconds(10)) {
            (try? StoreReader(path: fixture.storePath).events(batch: "DUR-1"))?.contains { $0.kind == "batch_ended" } == true
        })
        let reportText = try ctl(["--json", "batch", "report", "DUR-1"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(reportText.output.utf8)) as? [String: Any], "\(reportText.errors)")
        let service = try #require(report["alarm_service"] as? [String: Any])
        let intervals = try #require(service["out_of_service"] as? [[String: Any]])
        let interval = try #require(intervals.first { $0["target"] as? String == "rocker-1/temperature/limit" })
        #expect(interval["taken_by"] as? String == me && interval["reason"] as? String == "WO-1234: probe replacement")
        #expect(interval["to"] is String && interval["return_reason"] as? String == "WO-1234 closed")
        let resets = try #require(service["latch_resets"] as? [[String: Any]])
        #expect(resets.contains { $0["alarm"] as? String == bag && $0["user"] as? String == me })
        #expect((service["latched_alarms"] as? [String]) == [bag])
        let excursions = (report["excursions"] as? [[String: Any]])?.compactMap { $0["alarm"] as? String } ?? []
        #expect(excursions.contains(bag) && excursions.contains(status))
        let raised = (report["alarms"] as? [[String: Any]])?.compactMap { $0["alarm"] as? String } ?? []
        #expect(raised.contains(bag) && raised.contains(status))

        // The Control Site received it all, and the summary lines say what happened.
        func received(_ needle: String, _ also: String...) -> Bool {
            subscriber.output.contains { line in line.contains(needle) && also.allSatisfy { line.contains($0) } }
        }
        #expect(await waitFor(upTo: .seconds(20)) { received(" batch_ended rocker-1") }, "\(subscriber.output.suffix(10))")
        #expect(received(" raised \(bag)", "level=action", "priority=critical", "batch=DUR-1"))
        #expect(received(" cleared \(bag)", "state=latched"))
        #expect(received(" reset \(bag)", "user=\(me)", "reason=\"bag re-seated, integrity checked\""))
        #expect(received(" raised \(status)", "value=fault"))
        #expect(received(" excursion \(status)", "duration=", "worst="))
        #expect(received(" batch_started rocker-1", "batch=DUR-1"))
        #expect(received(" phase_changed rocker-1", "from=expansion", "phase=harvest", "reason=\"harvest day\""))
        #expect(received(" out_of_service rocker-1/temperature/limit", "state=out_of_service", "reason=\"WO-1234: probe replacement\""))
        #expect(received(" in_service rocker-1/temperature/limit", "since="))
        #expect(received(" out_of_service str-1", "reason=\"WO-1240: preventive maintenance\""))
        #expect(!subscriber.output.contains { $0.contains("communication") && $0.contains("side=") }, "communication alarms have no side")
    }
}
