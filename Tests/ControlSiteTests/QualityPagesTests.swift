import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

/// The example spec as a new version: another fingerprint, for a release to approve.
func exampleSpecVersion(_ version: String) throws -> String {
    try String(contentsOfFile: exampleSpec, encoding: .utf8).replacingOccurrences(of: "version: \"1.0\"", with: "version: \"\(version)\"")
}

extension WebClient {
    /// The value of a hidden field on a page.
    func hiddenField(_ page: String, _ name: String) -> String? {
        guard let range = page.range(of: "name=\"\(name)\" value=\"") else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }
}

extension WebSuites {
    @Suite("The quality system's pages over a real server and PostgreSQL", .serialized)
    struct QualityPagesTests {
        @Test("a change is requested on a page and approved by a second person; the requester's own approval is refused with 403, a stale hash with 409, a wrong password with 401, all audited")
        func changeApproval() async throws {
            let fixture = try await WebFixture()
            let quinn = fixture.client(), alex = fixture.client(), vera = fixture.client()
            try await quinn.signIn("quinn", WebFixture.password)
            try await alex.signIn("alex", WebFixture.password)
            try await vera.signIn("vera", WebFixture.password)
            // site-a is in the Master File already (the fixture's reference site); site-c joins by this change.
            let registration = [("kind", "site.register"), ("site", "site-c"), ("name", "Hospital C"), ("role", "additional"),
                                ("site_lead", "Dr Lead"), ("qa_contact", "QA A"), ("reason", "first site")]
            #expect(try await vera.post("/changes", registration + [("csrf", try await vera.csrfToken())]).status == 403)
            let requested = try await quinn.post("/changes", registration + [("csrf", try await quinn.csrfToken())])
            #expect(requested.status == 303)
            let path = try #require(requested.location)
            let ownPage = try await quinn.get(path)
            #expect(ownPage.body.contains("You requested this change") && !ownPage.body.contains("name=\"decision\""))
            let hash = try #require(alex.hiddenField(try await alex.get(path).body, "hash"))
            func decide(_ web: WebClient, _ fields: [(String, String)]) async throws -> Int {
                try await web.post(path + "/decide", fields + [("csrf", try await web.csrfToken())]).status
            }
            let approve = [("decision", "approve"), ("hash", hash), ("comment", "checked"), ("password", WebFixture.password)]
            #expect(try await decide(quinn, approve) == 403)
            #expect(try await decide(alex, [("decision", "approve"), ("hash", String(repeating: "0", count: 64)), ("password", WebFixture.password)]) == 409)
            #expect(try await decide(alex, [("decision", "approve"), ("hash", hash), ("password", "guess")]) == 401)
            #expect(try await decide(vera, approve) == 403)
            #expect(try await decide(alex, approve) == 303)
            let approved = try await alex.get(path)
            #expect(approved.body.contains("approved") && approved.body.contains("Alex Approver"))

            let sites = try await vera.get("/sites")
            #expect(sites.body.contains("additional") && sites.body.contains("in qualification (0 of 1 comparability batches certified"), "\(sites.body)")
            #expect(sites.body.contains("not in the POC Master File"))  // site-b
            #expect(sites.body.contains(">site-c<"))
            let site = try await vera.get("/sites/site-a")
            // Registered site, unregistered equipment: a nonconformance on the site's page.
            #expect(site.body.contains("POC Master File") && site.body.contains("NONCONFORMANCE rocker-1"))
            #expect(!site.body.contains("Request a change"))  // a viewer reads only

            let audit = try await vera.get("/audit?site=control&action=change.")
            #expect(audit.status == 200)
            #expect(audit.body.components(separatedBy: "change.approve.refused").count - 1 == 4, "own, stale hash, password, viewer")
            #expect(audit.body.contains("change.request.refused") && audit.body.contains(">change.approve<"))
            #expect(!audit.body.contains("web.sign_in<"))
        }

        @Test("QA opens, classifies, investigates and closes a deviation on its page; a stale version is refused with 409; the batch page shows it while open")
        func deviationLifecycle() async throws {
            let fixture = try await WebFixture()
            let quinn = fixture.client(), vera = fixture.client()
            try await quinn.signIn("quinn", WebFixture.password)
            try await vera.signIn("vera", WebFixture.password)
            #expect(try await vera.post("/deviations", [("csrf", try await vera.csrfToken()), ("site", "site-a"), ("title", "x"), ("description", "y")]).status == 403)
            let opened = try await quinn.post("/deviations", [("csrf", try await quinn.csrfToken()), ("site", "site-a"), ("batches", "A-1"),
                                                              ("title", "Temperature excursion"), ("description", "38.6 degC for 10 s")])
            #expect(opened.status == 303)
            let path = try #require(opened.location)
            let batch = try await vera.get("/batches/\(WebFixture.site)/\(WebFixture.batch)")
            // Among the exceptions first on the batch page, linked to the deviation.
            let exceptions = try #require(batch.body.components(separatedBy: "<section class=\"exceptions\">").last?.components(separatedBy: "</section>").first)
            #expect(exceptions.contains("data-check=\"deviations\" class=\"exception\"") && exceptions.contains("Temperature excursion")
                    && exceptions.contains("href=\"\(path)\""), "\(exceptions)")
            func post(_ action: String, _ fields: [(String, String)]) async throws -> Int {
                try await quinn.post(path + "/" + action, fields + [("csrf", try await quinn.csrfToken())]).status
            }
            #expect(try await post("classify", [("classification", "minor")]) == 303)
            #expect(try await post("update", [("investigation", "heater relay"), ("root_cause", "worn relay"), ("capa", "")]) == 303)
            let page = try await quinn.get(path)
            let version = try #require(quinn.hiddenField(page.body, "version"))
            #expect(try await post("close", [("version", String((Int(version) ?? 1) - 1)), ("comment", "fixed"), ("password", WebFixture.password)]) == 409)
            #expect(try await post("close", [("version", version), ("comment", "fixed"), ("password", "guess")]) == 401)
            #expect(try await post("close", [("version", version), ("comment", "relay replaced"), ("password", WebFixture.password)]) == 303)
            let closed = try await vera.get(path)
            #expect(closed.body.contains("closed") && closed.body.contains("<b>Quinn Assurance</b>") && closed.body.contains("deviation.close.refused"))
            #expect(!closed.body.contains("Sign and close"))
            #expect(try await post("update", [("investigation", "later")]) == 409)
        }

        @Test("the audit page shows each site's audit entries with its chain walked; an entry changed in the database breaks that chain on the page")
        func siteAuditChains() async throws {
            let fixture = try await WebFixture()
            try fixture.db.write(SiteFeed(site: "site-a").audit(4))
            let web = fixture.client()
            try await web.signIn("vera", WebFixture.password)
            let page = try await web.get("/audit?site=site-a")
            #expect(page.body.contains("alarm.acknowledge") && !page.body.contains("web.sign_in"))
            let chains = try #require(page.body.components(separatedBy: "class=\"chains\"").last?.components(separatedBy: "</table>").first)
            #expect(chains.contains("site-a") && !chains.contains("broken"))
            try fixture.db.connection.execute("UPDATE audit_entries SET record = jsonb_set(record, '{reason}', '\"nothing\"') WHERE seq = 3")
            let after = try await web.get("/audit?user=operator")
            #expect(after.body.contains("broken at entry 3") && after.body.contains("the entry was changed"))
            #expect(try await web.get("/audit?action=alarm.&since=2000-01-01&until=2100-01-01").body.contains("A-2"))
        }
    }
}
