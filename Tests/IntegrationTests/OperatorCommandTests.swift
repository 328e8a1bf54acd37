import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Operators' commands over the control socket", .serialized)
struct OperatorCommandTests {
    func ctl(_ fixture: DaemonFixture, _ arguments: [String]) throws -> ProcessResult {
        try run("pocarectl", arguments + ["--socket", fixture.socketPath])
    }

    func json(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output) \(result.errors)")
    }

    @Test("a simulated batch from start to report: excursion, acknowledgement with user and reason, values, devices, shelving")
    func batchLifeCycle() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms", faults: [excursionFault], spec: fastSpec)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let me = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        let alarm = "rocker-1/temperature/limit"

        // The excursion raises the alarm; the operator sees it and acknowledges it.
        let raised = await waitFor(upTo: .seconds(20)) {
            ((try? json(ctl(fixture, ["alarms", "--json"])))?["alarms"] as? [[String: Any]])?.contains { $0["alarm"] as? String == alarm } == true
        }
        #expect(raised)
        let human = try ctl(fixture, ["alarms"])
        // Active, or already back in range on a slow machine: either way it awaits acknowledgement.
        #expect(human.status == 0 && human.output.contains(alarm) && human.output.contains("_unacknowledged"), "\(human.output)")
        #expect(try ctl(fixture, ["ack", alarm, "--reason", "  "]).status == 1, "a blank reason is refused")
        #expect(try ctl(fixture, ["ack", alarm]).status == 2, "no reason is a usage error")
        let ack = try ctl(fixture, ["ack", alarm, "--reason", "probe checked"])
        #expect(ack.status == 0, "\(ack.errors)")
        #expect(ack.output.contains("acknowledged \(alarm) as \(me)"))
        let entry = try #require(try StoreReader(path: fixture.storePath).auditEntries().last { $0.action.action == "alarm.acknowledge" })
        #expect(entry.action.user == me && entry.action.reason == "probe checked" && entry.action.target == alarm)
        #expect(try ctl(fixture, ["ack", alarm, "--reason", "again"]).status == 1, "nothing left to acknowledge")

        // Values carry units, qualities and the limits in force.
        let values = try json(ctl(fixture, ["values", "rocker-1", "--json"]))
        let temperature = try #require((values["values"] as? [[String: Any]])?.first { $0["parameter"] as? String == "temperature" })
        #expect(temperature["unit"] as? String == "Cel" && temperature["quality"] as? String == "good")
        #expect(((temperature["limits"] as? [String: Any])?["alert_high"] as? NSNumber)?.doubleValue == 37.5)
        #expect(try ctl(fixture, ["values", "rocker-1"]).output.contains("temperature"))
        #expect(try ctl(fixture, ["values", "nowhere"]).status == 1)
        let devices = try json(ctl(fixture, ["devices", "--json"]))
        #expect((devices["devices"] as? [[String: Any]])?.map { $0["id"] as? String } == ["rocker-1", "str-1"])
        #expect(try ctl(fixture, ["watch", "rocker-1", "--count", "1"]).output.contains("temperature"))

        // Shelving and unshelving, both audited.
        #expect(try ctl(fixture, ["shelve", "str-1/ph/limit", "--for", "10m", "--reason", "probe calibration"]).status == 0)
        #expect(try ctl(fixture, ["unshelve", "str-1/ph/limit", "--reason", "calibration done"]).status == 0)
        #expect(try ctl(fixture, ["shelve", "str-1/ph/limit", "--for", "2d", "--reason", "x"]).status == 1)

        // Wait until the excursion is over and recorded, then end the batch and report it.
        #expect(await waitFor(upTo: .seconds(20)) {
            (try? StoreReader(path: fixture.storePath).events(batch: "DUR-1"))?.contains { $0.kind == "excursion" } == true
        })
        #expect(try ctl(fixture, ["batch", "end", "rocker-1", "--reason", "run complete"]).status == 0)
        func listedBatch() -> [String: Any]? {
            ((try? json(ctl(fixture, ["batch", "list", "--json"])))?["batches"] as? [[String: Any]])?.first { $0["batch"] as? String == "DUR-1" }
        }
        #expect(await waitFor(upTo: .seconds(10)) { listedBatch()?["ended"] is String }, "the end is committed within a group commit")
        let listed = try #require(listedBatch())

        let report = try json(ctl(fixture, ["batch", "report", "DUR-1", "--json"]))
        #expect(report["spec"] as? String == (listed["spec"] as? String))
        let excursion = try #require((report["excursions"] as? [[String: Any]])?.first)
        #expect(abs(((excursion["worst_value"] as? NSNumber)?.doubleValue ?? 0) - 38.4) < 1e-4, "38.4 as a float32 register")
        #expect(((excursion["duration_s"] as? NSNumber)?.doubleValue ?? 0) >= 2)
        let reported = try #require((report["alarms"] as? [[String: Any]])?.first { $0["alarm"] as? String == alarm })
        #expect(reported["acknowledged_by"] as? String == me && reported["reason"] as? String == "probe checked")
        let expansion = try #require((report["phases"] as? [[String: Any]])?.first { $0["phase"] as? String == "expansion" })
        let row = try #require((expansion["parameters"] as? [[String: Any]])?.first { $0["parameter"] as? String == "temperature" })
        #expect(abs(((row["max"] as? NSNumber)?.doubleValue ?? 0) - 38.4) < 1e-4)
        #expect(((row["in_range_pct"] as? NSNumber)?.doubleValue ?? 100) < 100, "the excursion shows as time out of range")
        let table = try ctl(fixture, ["batch", "report", "DUR-1"])
        #expect(table.output.contains("excursions") && table.output.contains("probe checked"))
        let csv = try ctl(fixture, ["batch", "report", "DUR-1", "--csv"])
        #expect(csv.output.hasPrefix("section,phase,item,field,value") && csv.output.contains("equipment,,,device,rocker-1"))
        #expect(csv.output.contains("excursion,expansion,rocker-1/temperature/limit@") && csv.output.contains(",acknowledged_by,"), "every section")

        // A new batch by fingerprint; a phase the spec does not have is refused.
        let spec = try #require(listed["spec"] as? String)
        #expect(try ctl(fixture, ["batch", "start", "rocker-1", "--batch", "DUR-2", "--spec", spec]).status == 2, "a reason is required")
        let started = try ctl(fixture, ["batch", "start", "rocker-1", "--batch", "DUR-2", "--spec", spec, "--reason", "next run"])
        #expect(started.status == 0, "\(started.errors)")
        #expect(try ctl(fixture, ["batch", "phase", "rocker-1", "harvest", "--reason", "day 9"]).status == 1)
        #expect(try ctl(fixture, ["batch", "start", "rocker-1", "--batch", "DUR-3", "--spec", spec, "--reason", "x"]).status == 1, "one batch at a time")
        // The audit trail through the daemon, for operators who cannot read the store file.
        let verified = try ctl(fixture, ["audit", "verify"])
        #expect(verified.status == 0 && verified.output.hasPrefix("audit trail intact"), "\(verified.errors)")
        let shown = try ctl(fixture, ["audit", "show", "--json", "--action", "alarm.*"])
        let lines = shown.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.contains { $0["action"] as? String == "alarm.acknowledge" && $0["user"] as? String == me && $0["reason"] as? String == "probe checked" })
        #expect(try ctl(fixture, ["audit", "show", "--last", "3"]).output.contains("batch.start"))
        let actions = try StoreReader(path: fixture.storePath).auditEntries().map(\.action.action)
        #expect(actions.contains("alarm.shelve") && actions.contains("alarm.unshelve") && actions.contains("batch.end"))
        #expect(actions.filter { $0 == "batch.start" }.count == 2)
    }
}
