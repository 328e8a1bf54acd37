import Foundation
import SiteStore
import Testing
import TestSupport

/// The Control Site's personnel register, from QA's approved change through `pocare-control run`
/// and a real broker to a real site, where the operators' command line meets it.
@Suite("Who acts at the site, as the Control Site's personnel register says, through pocarectl", .serialized)
struct PersonnelEndToEndTests {
    @Test("pocarectl status shows the register QA approved; as root, --user names a trained person whose action is theirs in the audit trail; a person the register does not list is refused; control.require_user makes naming a must")
    func registerGovernsTheCommandLine() async throws {
        // PostgreSQL, a broker and pocare-control run, as the provable-records tests set them up.
        let setup = try await ProvableRecordsSetup()
        defer { setup.stop() }
        func qa(_ arguments: [String]) throws -> ProcessResult {
            let (request, approval) = try throughChangeControl(arguments, database: setup.database.postgresConnectionInfo)
            return request.status == 0 ? approval : request
        }

        let fixture = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"\(setup.broker.url)\", client_id: site-personnel }")
        var daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        func ctl(_ arguments: [String]) throws -> ProcessResult { try run("pocarectl", ["--socket", fixture.socketPath] + arguments) }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let before = try ctl(["status"])
        #expect(before.output.contains("personnel     NO REGISTER received from the Control Site"), "\(before.output)")

        // QA registers the site and one trained operator; the register reaches the site.
        #expect(try qa(["sites", "register", "durability", "--name", "Durability Hospital", "--role", "reference", "--site-lead", "Dr D",
                        "--qa-contact", "QA D", "--reason", "the site under test"]).status == 0)
        let added = try qa(["sites", "personnel", "add", "durability", "alice", "--name", "Alice Operator", "--role", "operator",
                            "--trained", "2026-11-01", "--reason", "GxP training done"])
        #expect(added.status == 0, "\(added.output) \(added.errors)")
        var shown = ""
        #expect(await waitFor(upTo: .seconds(30)) {
            shown = (try? ctl(["status"]).output) ?? ""
            return shown.contains("personnel     register version 1")
        }, "\(shown)")
        #expect(shown.contains("1 people, approved by QA Approver"), "\(shown)")
        let json = try JSONSerialization.jsonObject(with: Data(try ctl(["status", "--json"]).output.utf8)) as? [String: Any]
        #expect(json?["personnel_listed"] as? Int == 1, "\(json ?? [:])")

        // These tests run as root, as pocarectl on a site's console does: --user names the person.
        let shelve = ["shelve", "str-1/ph/limit", "--for", "2h", "--reason", "probe calibration"]
        let unlisted = try ctl(["--user", "mallory"] + shelve)
        #expect(unlisted.status == 1 && unlisted.errors.contains("'mallory' is not in the personnel register (version 1"), "\(unlisted.errors)")
        let trained = try ctl(["--user", "alice"] + shelve)
        #expect(trained.status == 0, "\(trained.errors)")
        let audit = try StoreReader(path: fixture.storePath).auditEntries().map(\.action)
        #expect(audit.contains { $0.action == "alarm.shelve" && $0.user == "alice" })
        #expect(audit.contains { $0.action == "personnel.refused" && $0.user == "mallory" })

        // control.require_user: root must name the person for what changes state; reading needs no name.
        let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "control: { socket:", with: "control: { require_user: true, socket:")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        #expect(try ctl(["--user", "alice", "reload", "--reason", "operators name themselves"]).status == 0)
        let anonymous = try ctl(["shelve", "str-1/temperature/limit", "--for", "1h", "--reason", "heater service"])
        #expect(anonymous.status == 1 && anonymous.errors.contains("name the person you act for with --user NAME"), "\(anonymous.errors)")
        let status = try ctl(["status"])
        #expect(status.status == 0 && status.output.contains("root names the person (control.require_user)"), "\(status.output)")
        daemon.stop()
        // The register outlives a restart of the daemon: it is the store's.
        daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) { ((try? ctl(["status"]).output) ?? "").contains("personnel     register version 1") })
    }
}
