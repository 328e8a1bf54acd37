import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

@Suite("pocare-control's quality commands over a real PostgreSQL", .serialized)
struct QualityCommandTests {
    @Test("sites register, equipment add, personnel add and qualification are change requests; sites and sites show read the Master File")
    func masterFile() throws {
        let db = try IngestDatabase()
        try db.addQualityUsers()
        func control(_ arguments: [String], as user: String? = nil) throws -> (status: Int32, output: String) {
            try runCommand("pocare-control", arguments + (user.map { ["--user", $0] } ?? []) + ["--database", db.connectionInfo],
                           input: passwordInput(), errors: true)
        }
        func approve(_ request: (status: Int32, output: String)) throws {
            let lines = request.output.split(separator: "\n")
            guard let reference = lines.first?.split(separator: " ").first.map(String.init),
                  let hash = lines.first(where: { $0.hasPrefix("content sha256:") })?.dropFirst("content sha256:".count)
            else { throw TestFailure("no change in: \(request.output)") }
            let approval = try control(["changes", "approve", reference, "--hash", String(hash.prefix(12))], as: "alex")
            guard approval.status == 0 else { throw TestFailure("approval refused: \(approval.output)") }
        }
        let register = try control(["sites", "register", "site-b", "--name", "Hospital B", "--role", "additional", "--site-lead", "Dr B",
                                    "--qa-contact", "QA B", "--reason", "network expansion"], as: "quinn")
        #expect(register.status == 0 && register.output.hasPrefix("CC-1 requested: register site site-b"))
        try approve(register)
        try approve(try control(["sites", "equipment", "add", "site-b", "str-1", "--profile", "stirred-tank-str10", "--profiles", shippedProfiles,
                                 "--serial", "SN-4471", "--reason", "IQ/OQ done"], as: "quinn"))
        try approve(try control(["sites", "personnel", "add", "site-b", "olga", "--name", "Olga Operator", "--role", "operator",
                                 "--trained", "2026-03-01", "--reason", "trained"], as: "quinn"))
        let future = try control(["sites", "personnel", "add", "site-b", "tom", "--name", "Tom", "--role", "operator", "--trained", "2099-01-01",
                                  "--reason", "x"], as: "quinn")
        #expect(future.status == 1 && future.output.contains("in the future"))
        let noUser = try runCommand("pocare-control", ["sites", "equipment", "retire", "site-b", "str-1", "--reason", "x", "--database", db.connectionInfo])
        #expect(noUser.status == 2)

        let show = try control(["sites", "show", "site-b"])
        #expect(show.status == 0 && show.output.contains("additional site") && show.output.contains("SN-4471") && show.output.contains("olga"))
        #expect(show.output.contains("in qualification (0 of 1 comparability batches certified; no signed comparison)"))
        let sites = try control(["sites", "--json"])
        let row = try #require((jsonValue(sites.output) as? [[String: Any]])?.first { $0["site"] as? String == "site-b" })
        #expect(row["qualification_state"] as? String == "in_qualification" && row["role"] as? String == "additional")
        let table = try control(["sites"])
        #expect(table.output.contains("QUALIFICATION") && table.output.contains("in qualification"))

        // A suspension is a change too; its requester cannot approve it.
        let suspend = try control(["sites", "qualification", "site-b", "suspended", "--reason", "DEV-1"], as: "alex")
        let lines = suspend.output.split(separator: "\n")
        let reference = try #require(lines.first?.split(separator: " ").first.map(String.init))
        let hash = try #require(lines.first { $0.hasPrefix("content sha256:") }?.dropFirst("content sha256:".count))
        let own = try control(["changes", "approve", reference, "--hash", String(hash)], as: "alex")
        #expect(own.status == 1 && own.output.contains("a second person approves"))
        #expect(try control(["changes", "approve", reference, "--hash", String(hash)], as: "quinn").status == 0)
        #expect(try control(["sites", "show", "site-b"]).output.contains("qualification: suspended: CC-"))
        let history = try control(["changes", "list"])
        #expect(history.output.contains("site.qualification") && history.output.contains("equipment.register"))
    }

    @Test("deviations open, classify, update and close from the command line, the close signed against the version shown")
    func deviationCommands() throws {
        let db = try IngestDatabase()
        try db.addQualityUsers()
        func control(_ arguments: [String], as user: String? = nil) throws -> (status: Int32, output: String) {
            try runCommand("pocare-control", arguments + (user.map { ["--user", $0] } ?? []) + ["--database", db.connectionInfo],
                           input: passwordInput(), errors: true)
        }
        let opened = try control(["deviations", "open", "--site", "site-a", "--batch", "A-1", "--title", "Probe drift",
                                  "--description", "pH read 0.2 high against the buffer"], as: "quinn")
        #expect(opened.status == 0 && opened.output.hasPrefix("DEV-1 opened"))
        #expect(try control(["deviations", "classify", "DEV-1", "critical"], as: "vera").status == 1)
        #expect(try control(["deviations", "classify", "DEV-1", "critical"], as: "quinn").output.contains("critical, under investigation"))
        #expect(try control(["deviations", "update", "DEV-1", "--investigation", "calibration log reviewed", "--root-cause", "aged probe",
                             "--capa", "CAPA-7"], as: "quinn").status == 0)
        let shown = try control(["deviations", "show", "DEV-1", "--json"])
        let version = try #require((jsonValue(shown.output) as? [String: Any])?["version"] as? Int)
        let stale = try control(["deviations", "close", "DEV-1", "--version", String(version - 1), "--comment", "done"], as: "alex")
        #expect(stale.status == 1 && stale.output.contains("the record changed since you opened it"))
        #expect(try control(["deviations", "close", "DEV-1", "--version", String(version), "--comment", "probe replaced"], as: "alex").status == 0)
        let list = try control(["deviations", "list", "--state", "closed", "--json"])
        #expect((jsonValue(list.output) as? [[String: Any]])?.first?["closed_by"] as? String == "alex")
        #expect((jsonValue(try control(["deviations", "list", "--state", "open", "--json"]).output) as? [Any])?.isEmpty == true)
        let detail = try control(["deviations", "show", "DEV-1"])
        #expect(detail.output.contains("deviation.close") && detail.output.contains("deviation.classify.refused"))
        #expect(try control(["deviations", "scan"]).output.contains("no deviation to open"))
    }

    @Test("control.yaml's qms section sets the periods and limits, and refuses what it does not know with the field named")
    func qualitySettings() throws {
        let base = "broker: mqtt://127.0.0.1:1883\ndatabase: \"dbname=x\"\n"
        let config = try ControlConfig.parse(base + "qms: { training_valid_for: 180d, comparability_interval: 730d, unmonitored_limit: 30s }",
                                             file: "control.yaml")
        #expect(config.quality.trainingValidDays == 180 && config.quality.comparabilityIntervalDays == 730 && config.quality.unmonitoredLimitSeconds == 30)
        #expect(throws: ControlConfig.Invalid.self) { try ControlConfig.parse(base + "qms: { training_days: 3 }", file: "control.yaml") }
        let long = #expect(throws: ControlConfig.Invalid.self) { try ControlConfig.parse(base + "qms: { scan_interval: 0s }", file: "control.yaml") }
        #expect(long?.description.contains("qms.scan_interval") == true)
        #expect(try ControlConfig.parse(base, file: "control.yaml").quality == QualitySettings())
    }
}
