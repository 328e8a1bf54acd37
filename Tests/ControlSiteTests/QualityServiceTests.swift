import POCareContract
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

@Suite("The quality system inside pocare-control run, with a real broker and PostgreSQL", .serialized)
struct QualityServiceTests {
    /// The retained message on `topic`, as a new subscriber gets it.
    func retained(_ rig: ControlSiteRig, _ topic: String) throws -> String {
        try runCommand("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", String(rig.broker.port), "-t", topic, "-C", "1", "-W", "20"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("each site's personnel register is published retained from the approved changes, and again when a new change is approved")
    func personnelRegisterPublished() async throws {
        let rig = try ControlSiteRig()
        let db = rig.database
        try db.registerSite("site-a", role: .reference)
        try db.approvedChange(.personnelRegister(site: "site-a", .init(person: "Olga Operator", account: "olga", role: .operator, trainingDate: "2026-03-01")))
        let instance = try await rig.startInstance(clientId: "control-registers")
        let topic = ControlSiteRegister.topic(root: "pocare/v1", site: "site-a", kind: PersonnelRegister.kind)
        func read(_ payload: String) -> (register: ControlSiteRegister, people: [PersonnelRegister.Person])? {
            guard case .success(let register) = ControlSiteRegister.decode(Array(payload.utf8), site: "site-a", kind: PersonnelRegister.kind),
                  case .success(let people) = PersonnelRegister.people(of: register) else { return nil }
            return (register, people)
        }
        let payload = try retained(rig, topic)
        let first = try #require(read(payload), "\(payload)")
        #expect(first.register.version == 1 && first.people.map(\.account) == ["olga"] && first.register.signedBy.user == "alex")
        // As the contract documents it.
        let validator = try JSONSchemaValidator(asyncAPIFile: packageRoot.appendingPathComponent("docs/asyncapi.yaml").path)
        let schema = try #require(validator.schema(named: "register"))
        #expect(validator.validate(try #require(jsonValue(payload)), against: schema) == [])

        try db.approvedChange(.personnelRetire(site: "site-a", account: "olga"), reason: "left")
        var latest: (register: ControlSiteRegister, people: [PersonnelRegister.Person])?
        let published = await waitFor(upTo: .seconds(20)) {
            latest = read((try? retained(rig, topic)) ?? "")
            return latest?.register.version == 2
        }
        #expect(published && latest?.people.isEmpty == true && latest?.register.signedBy.meaning.hasPrefix("CC-") == true)
        instance.stop()
    }

    @Test("run opens a deviation for an excursion as it arrives (qms.scan_interval)")
    func deviationsOpenWhileRunning() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-deviations", extra: "qms: { scan_interval: 1s }")
        let feed = SiteFeed(site: "site-a", start: Date())
        // The site's birth names rocker-1 first: the Control Site stores only what a birth names.
        try rig.broker.publish([feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: "B-7", phase: "expansion", spec: nil)]),
                                feed.event("rocker-1", seq: 1, kind: "excursion", batch: "B-7", phase: "expansion", body: """
            {"excursion":{"alarm":"rocker-1/ph/limit","start":"\(Contract.format(feed.start))","duration_s":4,"worst_value":7.6,"worst_level":"alert","side":"high"}}
            """)])
        let opened = await waitFor(upTo: .seconds(30)) { (try? rig.database.count("SELECT count(*) FROM deviations")) == 1 }
        #expect(opened, "\(instance.output)")
        #expect(try rig.database.scalar("SELECT title FROM deviations") == "Excursion of rocker-1/ph/limit in batch B-7")
        #expect(try rig.database.scalar("SELECT batch FROM deviation_batches") == "B-7")
        instance.stop()
    }
}
