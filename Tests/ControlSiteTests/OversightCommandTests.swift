import ControlAPI
import POCareContract
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

let exampleSpec = packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml").path
let shippedProfiles = packageRoot.appendingPathComponent("DeviceProfiles").path

func jsonValue(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

@Suite("pocare-control oversight commands over a real PostgreSQL", .serialized)
struct OversightCommandTests {
    let feed = SiteFeed(site: "site-a")

    @Test("specs release and retire are change requests a second QA person approves; each step is in the hash-chained audit trail")
    func specRegister() throws {
        let db = try IngestDatabase()
        try db.addQualityUsers()
        func control(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runCommand("pocare-control", arguments + ["--database", db.connectionInfo], input: passwordInput(), errors: true)
        }
        let request = try runCommand("pocare-control", ["specs", "release", exampleSpec, "--reason", "approved under DOC-42", "--profiles",
                                                        shippedProfiles, "--user", "quinn", "--json", "--database", db.connectionInfo],
                                     input: passwordInput())
        #expect(request.status == 0)
        let change = try #require(jsonValue(request.output) as? [String: Any])
        let reference = try #require(change["reference"] as? String)
        let hash = try #require(change["content_hash"] as? String)
        #expect(change["state"] as? String == "proposed")
        // Nothing is released until a second person approves.
        #expect(try db.count("SELECT count(*) FROM released_specs") == 0)
        let own = try control(["changes", "approve", reference, "--hash", String(hash.prefix(12)), "--user", "quinn"])
        #expect(own.status == 1 && own.output.contains("a second person approves"))
        let wrongHash = try control(["changes", "approve", reference, "--hash", "000000000000", "--user", "alex"])
        #expect(wrongHash.status == 1 && wrongHash.output.contains("the record changed since you opened it"))
        let wrongPassword = try runCommand("pocare-control", ["changes", "approve", reference, "--hash", String(hash.prefix(12)), "--user", "alex",
                                                             "--database", db.connectionInfo], input: "not the password\n")
        #expect(wrongPassword.status == 1)
        let viewer = try control(["changes", "approve", reference, "--hash", String(hash.prefix(12)), "--user", "vera"])
        #expect(viewer.status == 1 && viewer.output.contains("may not"))
        #expect(try db.count("SELECT count(*) FROM released_specs") == 0)
        let approved = try control(["changes", "approve", reference, "--hash", String(hash.prefix(12)), "--user", "alex", "--comment", "checked"])
        #expect(approved.status == 0 && approved.output.contains("approved by Alex Approver"))
        let again = try control(["specs", "release", exampleSpec, "--reason", "again", "--profiles", shippedProfiles, "--user", "quinn"])
        #expect(again.status == 1 && again.output.contains("already released"))

        let list = try runCommand("pocare-control", ["specs", "list", "--json", "--database", db.connectionInfo])
        let entries = try #require(jsonValue(list.output) as? [[String: Any]])
        let fingerprint = try #require(entries.first?["fingerprint"] as? String)
        #expect(entries.count == 1 && entries[0]["retired"] == nil && entries[0]["released_by"] as? String == "alex")
        #expect(entries[0]["release_change"] as? Int == Int(reference.dropFirst(3)))

        let retire = try runCommand("pocare-control", ["specs", "retire", String(fingerprint.dropFirst(7).prefix(12)), "--reason", "superseded",
                                                       "--user", "alex", "--json", "--database", db.connectionInfo], input: passwordInput())
        let retireChange = try #require(jsonValue(retire.output) as? [String: Any])
        let retireHash = try #require(retireChange["content_hash"] as? String)
        #expect(try control(["changes", "approve", retireChange["reference"] as? String ?? "", "--hash", retireHash, "--user", "quinn"]).status == 0)
        #expect(try db.scalar("SELECT retire_reason FROM released_specs") == "superseded")

        let changes = try #require(jsonValue(try runCommand("pocare-control", ["changes", "list", "--json", "--database", db.connectionInfo]).output)
                                   as? [[String: Any]])
        #expect(changes.map { $0["state"] as? String } == ["approved", "approved"])
        let audit = try runCommand("pocare-control", ["audit", "--json", "--database", db.connectionInfo])
        #expect(audit.status == 0)
        let trail = try #require(jsonValue(audit.output) as? [String: Any])
        let actions = try #require(trail["entries"] as? [[String: Any]]).compactMap { ($0["action"] as? [String: Any])?["action"] as? String }
        #expect(trail["intact"] as? Bool == true)
        for action in ["change.request", "change.approve.refused", "change.approve", "spec.release", "spec.retire"] {
            #expect(actions.contains(action), "\(action) in \(actions)")
        }
        // Four refusals: the requester's own approval, the wrong hash, the wrong password, the viewer.
        #expect(actions.filter { $0 == "change.approve.refused" }.count == 4)

        // Changing a recorded reason afterwards breaks the chain at that entry.
        try db.connection.execute("UPDATE control_audit SET reason = 'nothing to see' WHERE seq = 5")
        let tampered = try control(["audit"])
        #expect(tampered.status == 1 && tampered.output.contains("chain broken at entry 5"))
    }

    @Test("a batch run under an unreleased spec is a nonconformance; released specs are not")
    func conformance() throws {
        let db = try IngestDatabase()
        let released = try db.releaseExampleSpec()
        let unreleased = "sha256:" + String(repeating: "b", count: 64)
        try db.write([
            feed.telemetry("rocker-1", 1...10, batch: "B-OK", phase: "expansion", spec: released),
            feed.telemetry("rocker-2", 1...10, batch: "B-BAD", phase: "expansion", spec: unreleased),
        ])
        let report = try runCommand("pocare-control", ["conformance", "--json", "--database", db.connectionInfo])
        #expect(report.status == 1)
        let found = try #require(jsonValue(report.output) as? [[String: Any]])
        #expect(found.count == 1)
        #expect(found.first?["batch"] as? String == "B-BAD" && found.first?["spec"] as? String == unreleased)
        #expect((found.first?["reason"] as? String)?.contains("never released") == true)
    }

    @Test("a spec a site published that does not hash to its fingerprint is a nonconformance, with every batch that ran under it")
    func publishedSpecMismatch() throws {
        let db = try IngestDatabase()
        let (document, fingerprint) = try feed.exampleSpecDocument()
        try db.releaseExampleSpec()
        let siteB = SiteFeed(site: "site-b")
        var altered = try siteB.exampleSpecDocument().message
        altered.payload = altered.payload.replacingOccurrences(of: "37.5", with: "37.9")
        try db.write([
            document, altered,
            feed.telemetry("rocker-1", 1...10, batch: "A-1", phase: "expansion", spec: fingerprint),
            siteB.telemetry("rocker-1", 1...10, batch: "B-1", phase: "expansion", spec: fingerprint),
        ])
        let report = try runCommand("pocare-control", ["conformance", "--json", "--database", db.connectionInfo])
        #expect(report.status == 1)
        let found = try #require(jsonValue(report.output) as? [[String: Any]])
        #expect(found.allSatisfy { $0["site"] as? String == "site-b" }, "site-a published the spec intact: \(found)")
        #expect(found.contains { $0["when"] as? String == "published" && ($0["reason"] as? String)?.contains("hashes to sha256:") == true })
        #expect(found.contains { $0["batch"] as? String == "B-1" && $0["when"] as? String == "ran" })
    }

    @Test("device metadata is kept with its fingerprint and shown by sites; metadata that does not hash to it is a finding")
    func deviceMetadata() throws {
        let db = try IngestDatabase()
        let good = try feed.metadata("rocker-1", profile: "rocking-bag-rb50")
        var bad = try feed.metadata("str-1", profile: "stirred-tank-str10")
        bad.payload = bad.payload.replacingOccurrences(of: "\"unit\":\"Cel\"", with: "\"unit\":\"K\"")
        try db.write([
            feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)]),
            good, bad,
        ])
        let sites = try runCommand("pocare-control", ["sites", "--json", "--database", db.connectionInfo])
        let site = try #require((jsonValue(sites.output) as? [[String: Any]])?.first)
        let devices = try #require(site["devices"] as? [[String: Any]])
        let rocker = try #require(devices.first { $0["id"] as? String == "rocker-1" })
        #expect((rocker["metadata"] as? String)?.hasPrefix("sha256:") == true && rocker["metadata_verified"] as? Bool == true)
        #expect(devices.first { $0["id"] as? String == "str-1" }?["metadata_verified"] as? Bool == false)
        let integrity = try runCommand("pocare-control", ["integrity", "--json", "--database", db.connectionInfo])
        #expect(integrity.output.contains("metadata_mismatch") && integrity.output.contains("str-1/meta"))

        // A device the site no longer has: its metadata is cleared and it leaves the list.
        try db.write([(good.topic, "")])
        let after = try runCommand("pocare-control", ["sites", "--json", "--database", db.connectionInfo])
        let left = try #require(((jsonValue(after.output) as? [[String: Any]])?.first?["devices"] as? [[String: Any]]))
        #expect(left.first { $0["id"] as? String == "rocker-1" }?["metadata"] == nil)
    }

    @Test("sites shows each site's state, version, devices and open findings; integrity exits 1 on an open gap")
    func sitesAndIntegrity() throws {
        let db = try IngestDatabase()
        try db.write([
            feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)]),
            feed.telemetry("rocker-1", 1...10), feed.telemetry("rocker-1", 16...20),
        ])
        let sites = try runCommand("pocare-control", ["sites", "--json", "--database", db.connectionInfo])
        #expect(sites.status == 0)
        let list = try #require(jsonValue(sites.output) as? [[String: Any]])
        #expect(list.first?["state"] as? String == "online" && list.first?["open_findings"] as? Int == 1)
        #expect((list.first?["devices"] as? [[String: Any]])?.first?["profile"] as? String == "rocking-bag-rb50")

        let integrity = try runCommand("pocare-control", ["integrity", "--database", db.connectionInfo])
        #expect(integrity.status == 1 && integrity.output.contains("11...15"))
        let table = try runCommand("pocare-control", ["sites", "--database", db.connectionInfo])
        #expect(table.status == 0 && table.output.contains("rocker-1 (rocking-bag-rb50"))
    }

    @Test("batches lists each batch with its spec, phases and conformance; batch shows its phases and events")
    func batches() throws {
        let db = try IngestDatabase()
        let spec = "sha256:" + String(repeating: "c", count: 64)
        try db.write([
            feed.event("rocker-1", seq: 1, kind: "batch_started", batch: "B7", phase: "activation", spec: spec),
            feed.telemetry("rocker-1", 1...10, batch: "B7", phase: "activation", spec: spec),
            feed.telemetry("rocker-1", 11...30, batch: "B7", phase: "expansion", spec: spec),
            feed.telemetry("rocker-2", 1...5, batch: "B8", phase: "activation", spec: spec),
        ])
        let list = try runCommand("pocare-control", ["batches", "--site", "site-a", "--json", "--database", db.connectionInfo])
        #expect(list.status == 0)
        let batches = try #require(jsonValue(list.output) as? [[String: Any]])
        let b7 = try #require(batches.first { $0["batch"] as? String == "B7" })
        #expect(batches.count == 2 && b7["samples"] as? Int == 30 && b7["events"] as? Int == 1)
        #expect(b7["phases"] as? [String] == ["activation", "expansion"] && b7["conforming"] as? Bool == false)
        let filtered = try runCommand("pocare-control", ["batches", "--spec", "dddd", "--json", "--database", db.connectionInfo])
        #expect((jsonValue(filtered.output) as? [Any])?.isEmpty == true)

        let detail = try runCommand("pocare-control", ["batch", "site-a", "B7", "--json", "--database", db.connectionInfo])
        #expect(detail.status == 1)  // the spec was never released
        let record = try #require(jsonValue(detail.output) as? [String: Any])
        #expect((record["phases"] as? [[String: Any]])?.map { $0["phase"] as? String } == ["activation", "expansion"])
        #expect((record["events"] as? [[String: Any]])?.first?["kind"] as? String == "batch_started")
        #expect(try runCommand("pocare-control", ["batch", "site-a", "NOPE", "--database", db.connectionInfo]).status == 1)
    }

    @Test("batch checks the site's published batch record against the samples held: a record claiming values or samples the Control Site never received differs")
    func siteRecordChecked() throws {
        let db = try IngestDatabase()
        let spec = "sha256:" + String(repeating: "c", count: 64)
        try db.write([
            feed.telemetry("rocker-1", 1...10, batch: "B7", phase: "expansion", spec: spec) { ["temperature": $0 == 5 ? 38.6 : 37.0] },
        ])
        // The record as the site's builder shapes it (`pocarectl batch report --json`).
        func record(samples: Int, max: Double) throws -> String {
            // From the first sample (1 s after the feed's start) to the last (10 s): nine seconds, all monitored.
            var report = BatchReport(batch: "B7", device: "rocker-1", spec: spec, started: Contract.format(feed.start.addingTimeInterval(1)),
                                     ended: Contract.format(feed.start.addingTimeInterval(10)))
            report.samples = samples
            var temperature = BatchReport.ParameterSummary(parameter: "temperature", unit: "Cel")
            temperature.samples = 10
            temperature.min = 37.0
            temperature.max = max
            temperature.monitoredS = 9
            report.phases = [BatchReport.Phase(phase: "expansion", durationS: 9, parameters: [temperature])]
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let text = String(decoding: try encoder.encode(report), as: UTF8.self)
            return "{\"kind\":\"batch_record\",\"reason\":\"batch ended\",\"record\":\(text)}"
        }
        try db.write([feed.event("rocker-1", seq: 1, kind: "batch_record", batch: "B7", phase: "expansion", spec: spec,
                                 body: try record(samples: 10, max: 38.6))])
        let agrees = try runCommand("pocare-control", ["batch", "site-a", "B7", "--json", "--database", db.connectionInfo])
        let checks = try #require((jsonValue(agrees.output) as? [String: Any])?["site_records"] as? [[String: Any]])
        #expect(checks.count == 1 && checks.first?["differences"] as? [String] == [], "\(checks)")

        // Published again, claiming a value and a sample the Control Site never received.
        try db.write([feed.event("rocker-1", seq: 2, kind: "batch_record", batch: "B7", phase: "expansion", spec: spec,
                                 body: try record(samples: 11, max: 39.5))])
        let differs = try runCommand("pocare-control", ["batch", "site-a", "B7", "--database", db.connectionInfo])
        #expect(differs.status == 1)
        #expect(differs.output.contains("DIFFERS") && differs.output.contains("counts 11 samples; the Control Site holds 10"))
        #expect(differs.output.contains("expansion temperature: the record says highest value 39.5; the samples held here give 38.6"),
                "\(differs.output)")
    }

    @Test("sites shows each site's clock as its own clock events say: synchronised with its error, then a step")
    func clockState() throws {
        let db = try IngestDatabase()
        try db.write([feed.status(devices: [])])
        let before = try #require((jsonValue(try runCommand("pocare-control", ["sites", "--json", "--database", db.connectionInfo]).output)
            as? [[String: Any]])?.first)
        #expect(before["clock"] == nil, "no evidence yet")

        try db.write([
            feed.event("site", seq: 1, kind: "clock_sync",
                       body: #"{"kind":"clock_sync","device":"site","time":"2026-11-20T00:00:00.000Z","synchronised":true,"estimated_error_us":1200}"#),
        ])
        let synced = try runCommand("pocare-control", ["sites", "--database", db.connectionInfo])
        #expect(synced.output.contains("synchronised ±1200us"), "\(synced.output)")

        try db.write([
            feed.event("site", seq: 2, kind: "clock_sync",
                       body: #"{"kind":"clock_sync","device":"site","time":"2026-11-20T00:01:00.000Z","synchronised":false,"estimated_error_us":16000000}"#),
            feed.event("site", seq: 3, kind: "clock_step",
                       body: #"{"kind":"clock_step","device":"site","time":"2026-11-20T00:02:00.000Z","step_s":-3.5}"#),
        ])
        let site = try #require((jsonValue(try runCommand("pocare-control", ["sites", "--json", "--database", db.connectionInfo]).output)
            as? [[String: Any]])?.first)
        let clock = try #require(site["clock"] as? [String: Any])
        #expect(clock["synchronised"] as? Bool == false && clock["last_step_s"] as? Double == -3.5)
        #expect(try runCommand("pocare-control", ["sites", "--database", db.connectionInfo]).output.contains("NOT synchronised, stepped -3.5s"))
    }

    @Test("exit codes: 2 for a usage error, 3 when the database cannot be reached")
    func exitCodes() throws {
        #expect(try runCommand("pocare-control", ["sites", "--no-such-flag"]).status == 2)
        #expect(try runCommand("pocare-control", ["sites", "--database", "host=127.0.0.1 port=\(freeLoopbackPort()) connect_timeout=2"]).status == 3)
    }
}
