import ControlAPI
import ControlSiteLink
import Foundation
import POCareContract
import SiteRuntime
import SiteStore
import Testing

/// The Control Site's personnel register decides who acts at the site.
@Suite("Operators as the personnel register lists them", .serialized)
struct PersonnelEnforcementTests {
    static func register(version: Int64, _ people: [PersonnelRegister.Person]) -> ControlSiteRegister {
        PersonnelRegister.register(version: version, people: people, signedBy: .init(
            name: "Alex Approver", user: "alex", time: "2026-12-01T10:00:00.000Z", meaning: "CC-\(version) approved: training"))
    }

    static func person(_ account: String, expires: String) -> PersonnelRegister.Person {
        .init(account: account, person: "Alice Operator", role: "operator", trainingDate: "2025-01-01", trainingExpires: expires)
    }

    static let phase = ControlCommand.batchPhase(BatchPhaseChange(device: "rocker-1", phase: "harvest", reason: "day 7"))

    @Test("without a register nothing is checked; someone it does not list, or whose training expired, is refused and audited; a listed, trained person acts")
    func registerDecides() async throws {
        try await RuntimeFixture.with { site in
            site.poll(temperature: 37)
            await site.daemon.receive(.accepted(Self.register(version: 1, [Self.person("bob", expires: "2099-12-31")])))
            let unlisted = await site.send(Self.phase)
            #expect(unlisted.error?.code == .refused && unlisted.error?.message.contains("'alice' is not in the personnel register (version 1") == true,
                    "\(String(describing: unlisted.error))")
            await site.daemon.receive(.accepted(Self.register(version: 2, [Self.person("alice", expires: "2020-06-30")])))
            let expired = await site.send(Self.phase)
            #expect(expired.error?.message.contains("expired on 2020-06-30") == true, "\(String(describing: expired.error))")
            // Nothing was applied: still in expansion.
            await site.daemon.receive(.accepted(Self.register(version: 3, [Self.person("alice", expires: "2099-12-31")])))
            let trained = await site.send(Self.phase)
            #expect(trained.ok, "\(String(describing: trained.error))")
            let audit = try await site.auditActions().map(\.action)
            #expect(audit.filter { $0.action == "personnel.refused" && $0.user == "alice" }.count == 2)
            #expect(!audit.contains { $0.action == "personnel.exception" })

            // The site's configuration lets such actions through: each is audited as an exception first.
            let config = try String(contentsOfFile: site.configPath, encoding: .utf8)
            try config.replacingOccurrences(of: "site: runtime\n", with: "site: runtime\npersonnel: { allow_unregistered: true }\n")
                .write(toFile: site.configPath, atomically: true, encoding: .utf8)
            let reload = await site.send(.reload(reason: "commissioning"))
            #expect(reload.ok, "\(String(describing: reload.error))")
            await site.daemon.receive(.accepted(Self.register(version: 4, [Self.person("bob", expires: "2099-12-31")])))
            let allowed = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete")))
            #expect(allowed.ok, "\(String(describing: allowed.error))")
            let exception = try #require(try await site.auditActions().map(\.action).last { $0.action == "personnel.exception" })
            #expect(exception.user == "alice" && exception.target == "batchEnd" && exception.reason?.contains("allowed by personnel.allow_unregistered") == true)
        }
    }

    @Test("a root client names the person it acts for with --user, and the action is theirs; control.require_user makes it a must; others may not name anyone else")
    func rootNamesThePerson() async throws {
        try await RuntimeFixture.with { site in
            site.poll(temperature: 37)
            let root = ControlPeer(uid: 0, pid: 1, user: "root")
            let other = await site.daemon.handle(ControlRequest(Self.phase, id: "t", user: "bob"), from: site.operatorPeer)
            #expect(other.error?.message.contains("--user is for a client running as root") == true, "\(String(describing: other.error))")
            let named = await site.daemon.handle(ControlRequest(Self.phase, id: "t", user: "alice"), from: root)
            #expect(named.ok, "\(String(describing: named.error))")
            #expect(try await site.auditActions().map(\.action).last { $0.action == "batch.phase" }?.user == "alice")

            let config = try String(contentsOfFile: site.configPath, encoding: .utf8)
            try config.replacingOccurrences(of: "control: { socket:", with: "control: { require_user: true, socket:")
                .write(toFile: site.configPath, atomically: true, encoding: .utf8)
            let reload = await site.send(.reload(reason: "operators name themselves"))
            #expect(reload.ok, "\(String(describing: reload.error))")
            let anonymous = await site.daemon.handle(ControlRequest(.batchEnd(BatchEnd(device: "rocker-1", reason: "done")), id: "t"), from: root)
            #expect(anonymous.error?.message.contains("name the person you act for with --user NAME") == true, "\(String(describing: anonymous.error))")
            // Reading needs no name.
            #expect(await site.daemon.handle(ControlRequest(.status, id: "t"), from: root).ok)
        }
    }
}
