import POCareContract
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

@Suite("Change control over a real PostgreSQL", .serialized)
struct ChangeControlTests {
    @Test("a change takes effect only when a second QA person approves it; the requester cannot approve their own, not even by writing to the database")
    func secondPerson() throws {
        let db = try IngestDatabase()
        try db.addQualityUsers()
        let content = ChangeContent.siteRegister(.init(site: "site-b", name: "Hospital B", role: .additional, siteLead: "Dr B", qaContact: "QA B"))
        let change = try ChangeControl.request(content, reason: "network expansion", by: try db.user("quinn"), on: db.connection)
        #expect(change.state == "proposed" && change.requestedBy == "quinn")
        #expect(try MasterFile.site("site-b", on: db.connection) == nil)

        let own = #expect(throws: QualityRefusal.self) {
            try ChangeControl.decide(change.id, .approve, shownHash: change.contentHash, comment: "", userName: "quinn",
                                     password: IngestDatabase.qualityPassword, on: db.connection)
        }
        #expect(own?.kind == .notPermitted)
        // The database itself refuses the same, whoever writes the statement.
        #expect(throws: PostgresError.self) {
            try db.connection.execute("""
                UPDATE changes SET state = 'approved', decided_by = requested_by, decided_full_name = 'x', decided = now(), effective = now()
                WHERE id = $1
                """, [String(change.id)])
        }
        let viewer = #expect(throws: QualityRefusal.self) {
            try ChangeControl.decide(change.id, .approve, shownHash: change.contentHash, comment: "", userName: "vera",
                                     password: IngestDatabase.qualityPassword, on: db.connection)
        }
        #expect(viewer?.kind == .notPermitted)
        let password = #expect(throws: QualityRefusal.self) {
            try ChangeControl.decide(change.id, .approve, shownHash: change.contentHash, comment: "", userName: "alex", password: "guess", on: db.connection)
        }
        #expect(password?.kind == .notAuthenticated)
        #expect(try ChangeControl.find(change.id, on: db.connection)?.state == "proposed")

        let approved = try ChangeControl.decide(change.id, .approve, shownHash: String(change.contentHash.prefix(12)), comment: "checked",
                                                userName: "alex", password: IngestDatabase.qualityPassword, on: db.connection)
        #expect(approved.state == "approved" && approved.decidedBy == "alex" && approved.effective != nil)
        let site = try #require(try MasterFile.site("site-b", on: db.connection))
        #expect(site.role == .additional && site.requiredBatches == 1 && site.qualification == .inQualification && site.changeId == change.id)
        #expect(try MasterFile.qualificationHistory(site: "site-b", on: db.connection).map(\.state) == ["in_qualification"])

        // Decided once: a second decision is refused, and the decided row cannot be edited.
        let again = #expect(throws: QualityRefusal.self) {
            try ChangeControl.decide(change.id, .reject, shownHash: change.contentHash, comment: "no", userName: "petra",
                                     password: IngestDatabase.qualityPassword, on: db.connection)
        }
        #expect(again?.kind == .stateConflict)
        #expect(throws: PostgresError.self) { try db.connection.execute("UPDATE changes SET reason = 'other' WHERE id = $1", [String(change.id)]) }
        #expect(throws: PostgresError.self) { try db.connection.execute("DELETE FROM changes") }

        let trail = try ControlAuditTrail.entries(db.connection)
        #expect(ControlAuditTrail.firstBroken(trail) == nil)
        let actions = trail.map(\.action.action)
        #expect(actions.filter { $0 == "change.approve.refused" }.count == 3)
        #expect(actions.contains("change.reject.refused") && actions.contains("site.register") && actions.contains("change.approve"))
    }

    @Test("the approver signs the content they were shown: another hash is refused, and the content cannot be edited")
    func boundToContent() throws {
        let db = try IngestDatabase()
        try db.registerSite("site-a", role: .reference)
        let change = try ChangeControl.request(.equipmentRegister(site: "site-a", .init(device: "rocker-1", profile: "rocking-bag-rb50",
                                                                                        profileFingerprint: "sha256:" + String(repeating: "a", count: 64))),
                                               reason: "IQ done", by: try db.user("quinn"), on: db.connection)
        let changed = #expect(throws: QualityRefusal.self) {
            try ChangeControl.decide(change.id, .approve, shownHash: String(repeating: "0", count: 64), comment: "", userName: "alex",
                                     password: IngestDatabase.qualityPassword, on: db.connection)
        }
        #expect(changed?.kind == .recordChanged && changed?.message.contains("the record changed since you opened it") == true)
        #expect(throws: PostgresError.self) {
            try db.connection.execute("UPDATE changes SET payload = '{}' WHERE id = $1", [String(change.id)])
        }
        // A second request for the same device while one is open is refused.
        let twice = #expect(throws: QualityRefusal.self) {
            try ChangeControl.request(.equipmentRegister(site: "site-a", .init(device: "rocker-1", profile: "rocking-bag-rb50",
                                                                               profileFingerprint: "sha256:" + String(repeating: "b", count: 64))),
                                      reason: "again", by: try db.user("alex"), on: db.connection)
        }
        #expect(twice?.kind == .stateConflict)
        let rejected = try ChangeControl.decide(change.id, .reject, shownHash: change.contentHash, comment: "wrong fingerprint", userName: "alex",
                                                password: IngestDatabase.qualityPassword, on: db.connection)
        #expect(rejected.state == "rejected" && rejected.effective == nil)
        #expect(try MasterFile.equipment(site: "site-a", on: db.connection).isEmpty)
        // Bad input is refused with the field named, before anything is stored.
        let bad = #expect(throws: QualityRefusal.self) {
            try ChangeControl.request(.personnelRegister(site: "site-a", .init(person: "Olga", account: "op 7", role: .operator, trainingDate: "2026-02-30")),
                                      reason: "trained", by: try db.user("quinn"), on: db.connection)
        }
        #expect(bad?.kind == .invalidInput && bad?.message.contains("the account") == true)
    }

    @Test("an approved change of a site's personnel writes the site's next register version, hashed and naming its approver")
    func personnelRegister() throws {
        let db = try IngestDatabase()
        try db.registerSite("site-a", role: .reference)
        var settings = QualitySettings()
        settings.trainingValidDays = 365
        try db.approvedChange(.personnelRegister(site: "site-a", .init(person: "Olga Operator", account: "olga", role: .operator,
                                                                       trainingDate: "2026-03-01")), settings: settings)
        try db.approvedChange(.personnelRegister(site: "site-a", .init(person: "Rui Reviewer", account: "rui", role: .reviewer,
                                                                       trainingDate: "2025-01-10")), settings: settings)
        let latest = try #require(try RegisterVersions.latest(site: "site-a", on: db.connection).first { $0.kind == "personnel" })
        #expect(latest.site == "site-a" && latest.version == 2 && latest.change != nil && latest.signedBy == "Alex Approver")
        let canonical = try #require(try db.scalar("SELECT canonical FROM register_versions WHERE site = 'site-a' AND version = 2"))
        let register = try #require(ControlSiteRegister.decode(canonical: canonical))
        let people = try PersonnelRegister.people(of: register).get()
        #expect(people.map(\.account) == ["olga", "rui"] && register.signedBy.user == "alex" && register.signedBy.name == "Alex Approver")
        #expect(register.signedBy.meaning.hasPrefix("CC-\(latest.change ?? 0) approved"))
        #expect(people.first { $0.account == "olga" }?.trainingExpires == "2027-03-01" && register.hash == latest.hash)
        // Rui's training is older than a year: expired in the Master File.
        let rui = try #require(try MasterFile.personnel(site: "site-a", on: db.connection).first { $0.account == "rui" })
        #expect(rui.trainingExpired(validDays: 365) && !rui.trainingExpired(at: Date(timeIntervalSince1970: 1_736_467_200), validDays: 365))
        // A register altered on its way is refused by the hash it carries.
        let message = String(decoding: register.message(site: "site-a"), as: UTF8.self)
        if case .failure = ControlSiteRegister.decode(Array(message.utf8), site: "site-a", kind: PersonnelRegister.kind) {
            Issue.record("the register as published does not read back")
        }
        let forged = message.replacingOccurrences(of: "2025-01-10", with: "2026-11-10")
        guard case .failure(let refusal) = ControlSiteRegister.decode(Array(forged.utf8), site: "site-a", kind: PersonnelRegister.kind) else {
            Issue.record("a forged register was accepted")
            return
        }
        #expect(refusal.reason.contains("does not match its content"))
    }
}
