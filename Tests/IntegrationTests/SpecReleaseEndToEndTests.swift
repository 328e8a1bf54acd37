import POCareContract
import Foundation
import POCareConfig
import SiteStore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// QA's register of released specs, from PostgreSQL through `pocare-control run` and a real
/// broker to a real site, which enforces it at the moment of action, also offline.
@Suite("Only released specs start batches", .serialized)
struct SpecReleaseEndToEndTests {
    @Test("a batch under an unreleased or retired spec is refused as not released, and starts once the Control Site releases it; a retirement does not touch a running batch; forged or older registers are refused; the register holds offline")
    func releasedSpecsGovern() async throws {
        let database = try TestPostgres()
        let broker = try TestBroker()
        let controlConfig = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: controlConfig) }
        try """
            broker: \(broker.url)
            client_id: control-release
            database: "\(database.postgresConnectionInfo)"
            """.write(toFile: controlConfig, atomically: true, encoding: .utf8)
        let control = try RunningProcess("pocare-control", ["run", "--config", controlConfig])
        defer { control.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { control.errors.contains { $0.contains("subscribed") } })
        // QA's decisions are changes one QA person requests and a second approves.
        func qa(_ arguments: [String]) throws -> ProcessResult {
            let (request, approval) = try throughChangeControl(arguments, database: database.postgresConnectionInfo)
            return request.status == 0 ? approval : request
        }

        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-release }", requireRelease: true)
        var daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        func ctl(_ arguments: [String]) throws -> ProcessResult { try run("pocarectl", arguments + ["--socket", fixture.socketPath]) }
        func device(_ id: String) -> [String: Any]? {
            guard let answer = try? ctl(["status", "--json"]), answer.status == 0,
                let status = try? JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any]
            else { return nil }
            return (status["devices"] as? [[String: Any]])?.first { $0["id"] as? String == id }
        }
        func configuredState() -> String? { (device("rocker-1")?["configured_batch"] as? [String: Any])?["state"] as? String }
        func registerVersion() -> Int64? { (try? StoreReader(path: fixture.storePath).latestRegisters())?.first { $0.kind == "specs" }?.version }

        // Operators name spec files in the site's spec folder (the configuration's own).
        let example = fixture.directory.appendingPathComponent("cart-expansion-example.yaml").path
        try FileManager.default.copyItem(atPath: packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml").path, toPath: example)
        let catalogue = SpecLoader.profileCatalogue(directory: packageRoot.appendingPathComponent("DeviceProfiles").path)
        let fingerprint = try #require(SpecLoader.load(path: example, profiles: catalogue).spec?.fingerprint)
        let digits = String(fingerprint.dropFirst("sha256:".count))

        // Nothing released yet: the configured batch waits, an operator's start is refused.
        #expect(await waitFor(upTo: .seconds(20)) { configuredState() == "waiting for a released spec" })
        let refused = try ctl(["batch", "start", "str-1", "--batch", "OP-1", "--spec", example, "--manual-phase", "--reason", "donor 20"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("is not released") && refused.errors.contains(fingerprint) && refused.errors.contains("state unknown")
                && refused.errors.contains("never received"), "\(refused.errors)")
        #expect(try ctl(["specs"]).output.contains("no register of released specs received"))

        // QA releases it: the register reaches the site, the configured batch starts.
        #expect(try qa(["specs", "release", example, "--reason", "CC-0042 approved"]).status == 0)
        #expect(await waitFor(upTo: .seconds(30)) { device("rocker-1")?["batch"] as? String == "DUR-1" }, "\(daemon.errors.suffix(5))")
        #expect(registerVersion() == 1)
        let listed = try ctl(["specs"]).output
        #expect(listed.contains("version 1") && listed.contains(String(digits.prefix(12))) && listed.contains("released"), "\(listed)")
        #expect(String(digits.prefix(11)).count == 11)
        let tooShort = try ctl(["batch", "start", "str-1", "--batch", "OP-1", "--spec", String(digits.prefix(11)), "--manual-phase", "--reason", "r"])
        #expect(tooShort.status == 1 && tooShort.errors.contains("at least 12 hex digits"), "\(tooShort.errors)")
        let byPrefix = try ctl(["batch", "start", "str-1", "--batch", "OP-1", "--spec", String(digits.prefix(12)), "--manual-phase", "--reason", "donor 20"])
        #expect(byPrefix.status == 0, "\(byPrefix.errors)")
        let audit = try StoreReader(path: fixture.storePath).auditEntries().map(\.action)
        #expect(audit.contains { $0.action == "register.receive" && $0.newValue?.hasPrefix("version=1 hash=sha256:") == true })

        // QA retires it: the running batches go on under it; a new start is refused as retired.
        #expect(try qa(["specs", "retire", String(digits.prefix(12)), "--reason", "superseded, CC-0051"]).status == 0)
        #expect(await waitFor(upTo: .seconds(30)) { registerVersion() == 2 })
        #expect(device("rocker-1")?["batch"] as? String == "DUR-1" && device("str-1")?["batch"] as? String == "OP-1")
        #expect(try ctl(["batch", "end", "str-1", "--reason", "run complete"]).status == 0)
        let retired = try ctl(["batch", "start", "str-1", "--batch", "OP-2", "--spec", example, "--manual-phase", "--reason", "donor 21"])
        #expect(retired.status == 1 && retired.errors.contains("is not released") && retired.errors.contains("state retired"), "\(retired.errors)")
        #expect(try ctl(["batch", "end", "rocker-1", "--reason", "run complete"]).status == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(try ctl(["batch", "report", "DUR-1", "--json"]).output.utf8)) as? [String: Any])
        let release = try #require(report["spec_release"] as? [String: Any])
        #expect(release["state"] as? String == "released" && release["register_version"] as? Int == 1)
        #expect((release["retired_during_batch"] as? [String: Any])?["reason"] as? String == "superseded, CC-0051", "\(release)")

        // A spec released for the stirred tank only: on the rocker it is released for another model.
        let tankOnly = fixture.directory.appendingPathComponent("tank-only.yaml")
        try """
            spec:
              product: Tank-only example
              process: Expansion in a stirred tank
              document: IPC-TANK-EXAMPLE-002
              version: "1.0"
              approved_by: Example QA, not approved for use
              approval_date: 2026-11-01
              change_control: CC-EXAMPLE-0060
              profiles: [stirred-tank-str10]
            phases:
              expansion:
                temperature: { unit: Cel, target: 37.0, alert_low: 36.5, alert_high: 37.5, action_low: 36.0, action_high: 38.0 }
            """.write(to: tankOnly, atomically: true, encoding: .utf8)
        let tankSpec = try #require(SpecLoader.load(path: tankOnly.path, profiles: catalogue).spec, "the tank-only spec is valid")
        #expect(try qa(["specs", "release", tankOnly.path, "--reason", "CC-0060"]).status == 0)
        #expect(await waitFor(upTo: .seconds(30)) { registerVersion() == 3 })
        let otherModel = try ctl(["batch", "start", "rocker-1", "--batch", "OP-3", "--spec", tankSpec.fingerprint, "--reason", "r"])
        #expect(otherModel.status == 1 && otherModel.errors.contains("state released for another equipment model (stirred-tank-str10"),
                "\(otherModel.errors)")

        // A forged register (content changed, hash kept) and an older one are refused; the site keeps version 3.
        let current = try #require(try StoreReader(path: fixture.storePath).registers(kind: "specs"))
        let first = try #require(ControlSiteRegister.decode(canonical: current[0].canonical))
        let older = String(decoding: first.message(site: "durability"), as: UTF8.self)
        let newest = try #require(ControlSiteRegister.decode(canonical: current[2].canonical))
        let forged = String(decoding: newest.message(site: "durability"), as: UTF8.self)
            .replacingOccurrences(of: "\"state\":\"retired\"", with: "\"state\":\"released\"")
        // One at a time: the link keeps only the latest register of a kind until its next turn, so
        // two sent together may reach the daemon as the second alone (by design: a register
        // replaces the one before it).
        for (sent, payload) in [forged, older].enumerated() {
            _ = try runCommand("/usr/bin/mosquitto_pub", [
                "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-r", "-t", "pocare/v1/durability/register/specs", "-m", payload,
            ])
            #expect(await waitFor(upTo: .seconds(20)) {
                ((try? StoreReader(path: fixture.storePath).auditEntries()) ?? []).filter { $0.action.action == "register.refused" }.count == sent + 1
            })
        }
        let refusals = try StoreReader(path: fixture.storePath).auditEntries().map(\.action).filter { $0.action == "register.refused" }
        #expect(refusals.contains { $0.reason?.contains("does not match its content") == true }, "\(refusals)")
        #expect(refusals.contains { $0.reason?.contains("is not newer than version 3") == true }, "\(refusals)")
        #expect(registerVersion() == 3)

        // Offline: no broker, a restarted daemon; the register it holds still governs.
        broker.stop()
        daemon.stop()
        daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) { device("str-1") != nil })
        let offline = try ctl(["batch", "start", "str-1", "--batch", "OP-4", "--spec", example, "--manual-phase", "--reason", "donor 22"])
        #expect(offline.status == 1 && offline.errors.contains("state retired") && offline.errors.contains("version 3"), "\(offline.errors)")
        let tank = try ctl(["batch", "start", "str-1", "--batch", "OP-4", "--spec", tankSpec.fingerprint, "--manual-phase", "--reason", "donor 22"])
        #expect(tank.status == 0, "a spec released for the tank starts there, offline: \(tank.errors)")
    }
}
