import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

extension WebSuites {
    @Suite("Batch disposition through the web pages", .serialized)
    struct DispositionPagesTests {
        @Test("every signature the rules forbid is refused through HTTP with the status of its kind and audited; the page says why before anyone tries")
        func refusals() async throws {
            let fixture = try await WebFixture()
            try await onOwnThread { try DispositionScenarios.prepare(fixture.db, spec: fixture.spec) }
            typealias S = DispositionScenarios
            let quinn = fixture.client(), petra = fixture.client(), paula = fixture.client()
            for (web, user) in [(quinn, "quinn"), (petra, "petra"), (paula, "paula")] { try await web.signIn(user, WebFixture.password) }
            func sign(_ web: WebClient, _ meaning: String, _ batch: String, hash: String? = nil) async throws -> WebClient.Answer {
                let path = "/batches/\(S.site)/\(batch)"
                let page = try await web.get(path).body
                let shown = try hash ?? web.hiddenField(page, "record_hash") ?? S.hash(fixture.db, batch)
                return try await web.post(path + "/sign", [("csrf", try await web.csrfToken()), ("meaning", meaning), ("record_hash", shown),
                                                           ("password", WebFixture.password)])
            }
            func refused(_ answer: WebClient.Answer, _ status: Int, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(answer.status == status && answer.body.contains(text), "\(answer.status) \(answer.body.suffix(400))", sourceLocation: sourceLocation)
            }
            // The page says it before anyone signs.
            let running = try await quinn.get("/batches/\(S.site)/\(S.running)")
            #expect(running.body.contains("The QA review is not possible now") && running.body.contains("the batch runs"))
            refused(try await sign(quinn, "reviewed", S.running), 409, "the batch runs")
            refused(try await sign(quinn, "reviewed", S.differs), 409, "not verified against the data held here")
            refused(try await sign(petra, "certified", S.clean), 409, "QA reviews the record before the QP")
            refused(try await sign(quinn, "certified", S.clean), 403, "may not certify")
            refused(try await sign(quinn, "reviewed", S.clean, hash: String(repeating: "a", count: 64)), 409, "the record changed since you opened it")
            #expect(try await sign(petra, "reviewed", S.clean2).status == 303)
            refused(try await sign(petra, "certified", S.clean2), 403, "another QP certifies or rejects it")
            for batch in [S.deviation, S.nonconforming, S.gap, S.unmonitored, S.unsigned, S.clean] {
                #expect(try await sign(quinn, "reviewed", batch).status == 303)
            }
            refused(try await sign(petra, "certified", S.deviation), 409, "open deviations")
            refused(try await sign(petra, "certified", S.nonconforming), 409, "nonconformances")
            refused(try await sign(petra, "certified", S.gap), 409, "open integrity findings")
            refused(try await sign(petra, "certified", S.unmonitored), 409, "not covered by a closed deviation")
            let unsigned = try await petra.get("/batches/\(S.site)/\(S.unsigned)").body
            #expect(unsigned.contains("records not covered by a checkpoint the site signed"), "the page says it before the QP signs")
            refused(try await sign(petra, "certified", S.unsigned), 409, "records not covered by a checkpoint the site signed")
            #expect(try await sign(petra, "certified", S.clean).status == 303)
            refused(try await sign(paula, "rejected", S.clean), 409, "certified already")

            // The QP withdraws the certification with a reason: QA reviewed again, the signature shown withdrawn.
            let path = "/batches/\(S.site)/\(S.clean)"
            #expect(try await quinn.post(path + "/withdraw", [("csrf", try await quinn.csrfToken()), ("reason", "x"), ("password", WebFixture.password)]).status == 403)
            #expect(try await paula.post(path + "/withdraw", [("csrf", try await paula.csrfToken()), ("reason", "OOS sterility"),
                                                              ("password", WebFixture.password)]).status == 303)
            let withdrawn = try await paula.get(path)
            #expect(withdrawn.body.contains("WITHDRAWN") && withdrawn.body.contains("OOS sterility") && withdrawn.body.contains("QA reviewed, awaiting the QP"))
            #expect(try await paula.get("/batches?state=awaiting_qp").body.contains(">\(S.clean)<"))
            let trail = try ControlAuditTrail.entries(fixture.db.connection)
            #expect(trail.filter { $0.action.action == "batch.sign.refused" }.count == 12)
            #expect(trail.contains { $0.action.action == "batch.withdraw.refused" } && trail.contains { $0.action.action == "batch.withdraw" })
        }

        @Test("the sites page counts as standing the alarms raised and not cleared, acknowledged or not, by priority; shelved ones apart")
        func standingAlarms() async throws {
            let fixture = try await WebFixture()
            let feed = SiteFeed(site: "site-c", start: Date())
            func alarm(_ seq: Int64, _ kind: String, _ name: String, _ priority: String, _ state: String) -> SiteFeed.Message {
                feed.event("rocker-1", seq: seq, kind: kind, body: """
                    {"alarm":"rocker-1/\(name)/limit","priority":"\(priority)","level":"action","state":"\(state)"}
                    """)
            }
            try fixture.db.write([
                feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)]),
                alarm(1, "raised", "temperature", "high", "active_unacknowledged"),
                alarm(2, "raised", "ph", "high", "active_unacknowledged"), alarm(3, "acknowledged", "ph", "high", "active_acknowledged"),
                alarm(4, "raised", "co2", "medium", "active_unacknowledged"), alarm(5, "cleared", "co2", "medium", "returned_unacknowledged"),
                alarm(6, "raised", "do", "medium", "active_unacknowledged"), alarm(7, "cleared", "do", "medium", "returned_unacknowledged"),
                alarm(8, "acknowledged", "do", "medium", "normal"),
                alarm(9, "raised", "agitation", "low", "active_unacknowledged"), alarm(10, "shelved", "agitation", "low", "shelved"),
            ])
            let web = fixture.client()
            try await web.signIn("vera", WebFixture.password)
            let page = try await web.get("/sites")
            let row = try #require(page.body.components(separatedBy: "<tr>").first { $0.contains(">site-c<") })
            #expect(row.contains(">2 high<") && !row.contains("medium") && !row.contains(">1 low<") && row.contains("1 shelved"), "\(row)")
            let site = try await web.get("/sites/site-c")
            let standing = try #require(site.body.components(separatedBy: "class=\"standing-alarms\"").last?.components(separatedBy: "</table>").first)
            #expect(standing.contains("rocker-1/temperature/limit") && standing.contains("rocker-1/ph/limit") && standing.contains("shelved"))
            #expect(!standing.contains("rocker-1/co2/limit") && !standing.contains("rocker-1/do/limit"))
        }
    }
}
