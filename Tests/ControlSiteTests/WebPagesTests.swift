import ControlSiteQuality
import ControlSiteRecords
import POCareContract
import ControlSiteWeb
import Foundation
import Testing
import TestSupport

extension WebSuites {
    @Suite("The Control Site's web pages over a real server and PostgreSQL", .serialized)
    struct WebPagesTests {
        let batchPath = "/batches/\(WebFixture.site)/\(WebFixture.batch)"

        @Test("a page sends a visitor without a session to sign in; JSON says 401; a wrong password is 401; a right one opens the pages")
        func signInGate() async throws {
            let fixture = try await WebFixture()
            let web = fixture.client()
            let page = try await web.get("/sites")
            #expect(page.status == 303 && page.location?.hasPrefix("/login?next=") == true)
            #expect(try await web.get("/sites.json").status == 401)
            #expect(try await web.get("\(batchPath)/record.json").status == 401)
            #expect(try await web.signIn("petra", "not the password").status == 401)
            #expect(try await web.signIn("nobody", WebFixture.password).status == 401)

            let signedIn = try await web.signIn("petra", WebFixture.password)
            #expect(signedIn.status == 303 && signedIn.location == "/sites")
            let cookie = try #require(web.setCookies.last)
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))

            let sites = try await web.get("/sites")
            #expect(sites.status == 200 && sites.body.contains("site-a") && sites.body.contains("site-b"))
            #expect(sites.headers["content-security-policy"]?.contains("default-src 'none'") == true)
            let site = try await web.get("/sites/site-a")
            // Names and units from the device's published metadata, not the site's files.
            #expect(site.status == 200 && site.body.contains("Culture temperature</span> = <b>") && site.body.contains("</b> Cel"))
            #expect(try await web.get("/sites/no-such-site").status == 404)
            #expect(try await web.get("/batches").status == 200)
            #expect(try await web.get("/batches/site-a/no-such-batch").status == 404)
            #expect(try await web.get("/specs").body.contains("IPC-CART-EXAMPLE-001"))
            let audit = try await web.get("/audit")
            #expect(audit.status == 200 && audit.body.contains("web.sign_in.failed") && audit.body.contains("web.sign_in"))
        }

        @Test("the batch review page plots each parameter with a band per phase, the excursion shaded, the hole hatched and the alarms marked")
        func batchReview() async throws {
            let fixture = try await WebFixture()
            let web = fixture.client()
            try await web.signIn("quinn", WebFixture.password)
            let page = try await web.get(batchPath)
            #expect(page.status == 200)
            let plots = page.body.components(separatedBy: "<svg").dropFirst()
            // A plot for every parameter: trends of temperature and ph, strips of the flags and labels.
            let parameters = Set(plots.compactMap { $0.components(separatedBy: "data-parameter=\"").dropFirst().first?.prefix { $0 != "\"" } }.map(String.init))
            #expect(parameters.isSuperset(of: ["temperature", "ph", "heater_on", "status"]) && plots.count == parameters.count, "\(parameters)")
            let temperature = try #require(plots.first { $0.contains("data-parameter=\"temperature\"") })
            #expect(temperature.components(separatedBy: "class=\"trend\"").count - 1 == 1)
            #expect(temperature.components(separatedBy: "class=\"phase-band\"").count - 1 == 2)
            #expect(temperature.contains("class=\"excursion\"") && temperature.contains("class=\"unmonitored\""))
            #expect(temperature.contains("class=\"phase-boundary\""))
            #expect(temperature.contains("acknowledged") && temperature.contains("by operator-7: heater checked"))
            // Beside each plot its statistics; the excursion as the samples show it: 38.6 from 100 s, back inside at 111 s,
            // the same numbers `pocare-control batch` computes from the same samples.
            #expect(page.body.components(separatedBy: "class=\"statistics\"").count - 1 == 2)
            let held = try await onOwnThread { () throws -> [DeviceBatchStatistics] in
                let connection = try PostgresConnection(fixture.db.connectionInfo)
                let lookup = SpecLookup(profilesDirectory: shippedProfiles)
                return try BatchSeriesReader.load(connection, site: WebFixture.site, batch: WebFixture.batch,
                                                  specs: { try lookup.ran($0, on: connection) })
            }
            let excursion = try #require(held.first?.summary.excursions.first { $0.parameter == "temperature" })
            #expect(excursion.durationS == 11 && excursion.worstValue == 38.6)
            let excursionTable = try #require(page.body.components(separatedBy: "class=\"excursions\"").dropFirst().first)
            let row = try #require(excursionTable.components(separatedBy: "<tr>").first { $0.contains("temperature") })
            #expect(row.contains("<td>11 s</td>") && row.contains("<td>38.6</td>") && row.contains(">action high<"), "\(row)")
            // The open gap is an exception of the review, first on the page.
            let exceptions = try #require(page.body.components(separatedBy: "<section class=\"exceptions\">").last?.components(separatedBy: "</section>").first)
            #expect(exceptions.contains("data-check=\"integrity\" class=\"exception\"") && exceptions.contains("gap on rocker-1/telemetry"))
            // The batch still runs at the site: its record, and the clock evidence in it, are said to be missing.
            #expect(page.body.contains("The site's batch record</h2><p class=\"muted\">Not received for rocker-1"))
            #expect(exceptions.contains("data-check=\"clock\" class=\"not-checked\"") && !exceptions.contains("No exceptions"))
        }

        @Test("comparability draws each site's batch means over the quality range and the envelope, lists exclusions, offers CSV and JSON")
        func comparability() async throws {
            let fixture = try await WebFixture()
            let web = fixture.client()
            try await web.signIn("vera", WebFixture.password)
            let query = "spec=\(fixture.spec)&phase=expansion&reference=site-a"
            let page = try await web.get("/comparability?\(query)")
            #expect(page.status == 200)
            let temperature = try #require(page.body.components(separatedBy: "<svg").first { $0.contains("class=\"batch-means\" data-parameter=\"temperature\"") })
            #expect(temperature.components(separatedBy: "class=\"site\"").count - 1 == 2)
            #expect(temperature.contains("class=\"quality-range\""))
            #expect(page.body.contains("class=\"envelope-plot\" data-parameter=\"temperature\""))
            // The method and the exclusions are on the page: A-1 still runs.
            #expect(page.body.contains("<h2>Method</h2>") && page.body.contains("running: the site has not recorded its end"))
            #expect(page.body.contains("<option selected>expansion</option>"))
            let csv = try await web.get("/comparability.csv?\(query)")
            #expect(csv.status == 200 && csv.headers["content-type"]?.hasPrefix("text/csv") == true)
            #expect(csv.body.hasPrefix("site,device,batch,role,status,reasons,record_hash"))
            let trajectories = try await web.get("/comparability-trajectories.csv?\(query)")
            #expect(trajectories.status == 200 && trajectories.body.hasPrefix("site,device,batch,status,parameter,axis,axis_unit,bucket"))
            #expect(page.body.contains("in buckets of 60 s since phase start"))
            // Per-parameter settings as the command takes them; a wrong one is refused, naming it.
            let tiers = try await web.get("/comparability?\(query)&settings=temperature.tiers%3D2%2C3%20ph.k%3D2")
            #expect(tiers.body.contains("<td>temperature</td><td>2, 3</td>") && tiers.body.contains("value=\"temperature.tiers=2,3 ph.k=2\""))
            #expect(try await web.get("/comparability?\(query)&settings=temperature.bogus%3D1").body.contains("unknown key &#39;bogus&#39;"))
            let json = try await web.get("/comparability.json?\(query)")
            #expect(json.status == 200 && json.body.contains("\"reference\" : \"site-a\"") && json.body.contains("\"method_version\""))
            #expect(try await web.get("/comparability.json?spec=ffff&phase=expansion&reference=site-a").status == 400)
            // A viewer stores nothing.
            let csrf = try await web.csrfToken()
            let fields = [("csrf", csrf), ("spec", fixture.spec), ("phase", "expansion"), ("reference", "site-a"), ("kind", "qualification")]
            #expect(try await web.post("/comparisons", fields).status == 403)
        }

        @Test("a stored comparison is signed by QA with the password, bound to the hash shown; a QP may not sign it")
        func storedComparisonSigned() async throws {
            let fixture = try await WebFixture()
            let qa = fixture.client()
            try await qa.signIn("quinn", WebFixture.password)
            var csrf = try await qa.csrfToken()
            let stored = try await qa.post("/comparisons", [("csrf", csrf), ("spec", fixture.spec), ("phase", "expansion"), ("reference", "site-a"),
                                                            ("kind", "qualification")])
            #expect(stored.status == 303 && stored.location == "/comparisons/1")
            let page = try await qa.get("/comparisons/1")
            let hash = try #require(try fixture.db.scalar("SELECT report_hash FROM comparison_reports WHERE id = 1"))
            #expect(page.body.contains(hash) && page.body.contains("action=\"/comparisons/1/sign\""))
            csrf = try await qa.csrfToken()
            let stale = try await qa.post("/comparisons/1/sign", [("csrf", csrf), ("hash", String(repeating: "0", count: 64)), ("meaning", "approved"),
                                                                  ("password", WebFixture.password)])
            #expect(stale.status == 409 && stale.body.contains("the record changed since you opened it"))
            let wrong = try await qa.post("/comparisons/1/sign", [("csrf", csrf), ("hash", hash), ("meaning", "approved"), ("password", "nope")])
            #expect(wrong.status == 401)
            let signed = try await qa.post("/comparisons/1/sign", [("csrf", csrf), ("hash", hash), ("meaning", "approved"),
                                                                   ("password", WebFixture.password), ("comment", "site-b comparable")])
            #expect(signed.status == 303)
            let after = try await qa.get("/comparisons")
            #expect(after.body.contains("approved by Quinn Assurance") && !after.body.contains("INVALID"))
            // One due date everywhere: the list's is the qualification's (site-a, the qualified reference).
            let due = try #require(try Qualification.status(site: "site-a", settings: QualitySettings(), on: fixture.db.connection)?.checkDue)
            let table = after.body.components(separatedBy: "class=\"yearly-due\"").last ?? ""
            #expect(table.contains("<td>site-a</td>") && table.contains("<td>\(due)</td>"), "\(table.prefix(800))")
            #expect(try fixture.db.count("SELECT count(*) FROM control_audit WHERE action IN ('comparison.store', 'comparison.sign', 'comparison.sign.refused')") == 4)

            let qp = fixture.client()
            try await qp.signIn("petra", WebFixture.password)
            let refused = try await qp.post("/comparisons/1/sign", [("csrf", try await qp.csrfToken()), ("hash", hash), ("meaning", "approved"),
                                                                    ("password", WebFixture.password)])
            #expect(refused.status == 403)
        }

        @Test("a viewer sees no sign form and a signature posted anyway is refused with 403")
        func viewerCannotSign() async throws {
            let fixture = try await WebFixture()
            let web = fixture.client()
            try await web.signIn("vera", WebFixture.password)
            let page = try await web.get(batchPath)
            #expect(page.status == 200 && !page.body.contains("name=\"password\""))
            let token = try await web.csrfToken()
            let refused = try await web.post("\(batchPath)/sign", [("csrf", token), ("meaning", "reviewed"), ("password", WebFixture.password)])
            #expect(refused.status == 403)
            #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = 'A-1'") == 0)
        }

        @Test("a form without the session's CSRF token, or with another, is refused and changes nothing")
        func csrf() async throws {
            let fixture = try await WebFixture()
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            let form = [("meaning", "reviewed"), ("password", WebFixture.password), ("comment", "ok")]
            #expect(try await web.post("\(batchPath)/sign", form).status == 403)
            #expect(try await web.post("\(batchPath)/sign", form + [("csrf", String(repeating: "0", count: 64))]).status == 403)
            #expect(try await web.post("/logout", []).status == 403)
            #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = 'A-1'") == 0)
            // The session is still good: the refused logout did not end it.
            #expect(try await web.get("/sites").status == 200)
        }

        @Test("a session ends after its idle time, and a signed-out session opens nothing")
        func sessionExpiry() async throws {
            let fixture = try await WebFixture { $0.sessionIdleSeconds = 1 }
            let web = fixture.client()
            try await web.signIn("quinn", WebFixture.password)
            #expect(try await web.get("/sites").status == 200)
            try await Task.sleep(for: .milliseconds(2500))
            let expired = try await web.get("/sites")
            #expect(expired.status == 303 && expired.location?.hasPrefix("/login") == true)

            let other = fixture.client()
            try await other.signIn("quinn", WebFixture.password)
            let saved = try #require(other.cookie)
            let token = try await other.csrfToken()
            #expect(try await other.post("/logout", [("csrf", token)]).status == 303)
            let replay = fixture.client()
            replay.useCookie(saved)
            #expect(try await replay.get("/sites").status == 303)
        }

        @Test("a session ends at its absolute limit however busy it is")
        func absoluteExpiry() async throws {
            let fixture = try await WebFixture { $0.sessionMaxSeconds = 2 }
            let web = fixture.client()
            try await web.signIn("quinn", WebFixture.password)
            var ended = false
            for _ in 0..<40 where !ended {
                ended = try await web.get("/sites").status == 303
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(ended)
        }

        @Test("QA reviews and a QP certifies an ended batch; each signature shows name, meaning and time, is audited, and shows INVALID once the record changes")
        func signatureBinding() async throws {
            let fixture = try await WebFixture()
            let path = "/batches/\(WebFixture.site)/\(WebFixture.endedBatch)"
            let quinn = fixture.client(), petra = fixture.client()
            try await quinn.signIn("quinn", WebFixture.password)
            try await petra.signIn("petra", WebFixture.password)
            let page = try await quinn.get(path)
            #expect(page.body.contains("No exceptions"), "an ended batch with nothing amiss")
            let hash = try #require(quinn.hiddenField(page.body, "record_hash"))
            let token = try await quinn.csrfToken()
            #expect(try await quinn.post("\(path)/sign", [("csrf", token), ("meaning", "released!"), ("record_hash", hash), ("password", WebFixture.password)]).status == 400)
            #expect(try await quinn.post("\(path)/sign", [("csrf", token), ("meaning", "reviewed"), ("record_hash", hash), ("password", "guess")]).status == 401)
            #expect(try await quinn.post("\(path)/sign", [("csrf", token), ("meaning", "reviewed"), ("record_hash", hash), ("password", WebFixture.password),
                                                          ("comment", "reviewed by exception: none")]).status == 303)
            let petraToken = try await petra.csrfToken()
            let certified = try await petra.post("\(path)/sign", [("csrf", petraToken), ("meaning", "certified"), ("record_hash", hash),
                                                                  ("password", WebFixture.password), ("comment", "released")])
            #expect(certified.status == 303)

            let after = try await petra.get(path)
            #expect(after.body.contains("Dr Petra Qualified") && after.body.contains("<b class=\"meaning\">certified</b>") && !after.body.contains("INVALID"))
            let record = try #require(jsonValue(try await petra.get("\(path)/record.json").body) as? [String: Any])
            #expect(record["state"] as? String == "certified")
            let signatures = try #require(record["signatures"] as? [[String: Any]])
            #expect(signatures.map { $0["meaning"] as? String } == ["reviewed", "certified"])
            #expect(signatures.allSatisfy { $0["valid"] as? Bool == true && $0["record_hash"] as? String == record["record_hash"] as? String })
            #expect(signatures.allSatisfy { ($0["signed"] as? String)?.hasSuffix("Z") == true })
            let trail = try ControlAuditTrail.entries(fixture.db.connection)
            #expect(trail.contains { $0.action.action == "batch.sign.refused" && $0.action.user == "quinn" })
            let entry = try #require(trail.last { $0.action.action == "batch.sign" })
            #expect(entry.action.target == "site-a/A-7" && entry.action.newValue?.hasPrefix("certified by Dr Petra Qualified") == true)
            #expect(ControlAuditTrail.firstBroken(trail) == nil)
            #expect(try await petra.get("/batches?state=certified").body.contains(">A-7<"))

            // Someone changes one stored sample afterwards: every signature is INVALID, the batch is ended again.
            try fixture.db.connection.execute("""
                UPDATE samples SET "values" = '{"temperature":37.0,"ph":7.3}' WHERE site = 'site-a' AND stream = 'str-1/telemetry' AND seq = 30
                """)
            let changed = try await petra.get(path)
            #expect(changed.body.components(separatedBy: "INVALID: the record changed after signing").count - 1 >= 2)
            let json = try #require(jsonValue(try await petra.get("\(path)/record.json").body) as? [String: Any])
            #expect(json["state"] as? String == "ended" && (json["signatures"] as? [[String: Any]])?.allSatisfy { $0["valid"] as? Bool == false } == true)
            let list = try await petra.get("/batches?state=invalid")
            #expect(list.body.contains(">A-7<") && list.body.contains("INVALID"))
            #expect(!(try await petra.get("/batches?state=certified").body.contains(">A-7<")))
        }

        @Test("QA reviews but may not certify; a viewer signs nothing")
        func qaMeanings() async throws {
            let fixture = try await WebFixture()
            let path = "/batches/\(WebFixture.site)/\(WebFixture.endedBatch)"
            let web = fixture.client()
            try await web.signIn("quinn", WebFixture.password)
            let hash = try #require(web.hiddenField(try await web.get(path).body, "record_hash"))
            let token = try await web.csrfToken()
            #expect(try await web.post("\(path)/sign", [("csrf", token), ("meaning", "certified"), ("record_hash", hash), ("password", WebFixture.password)]).status == 403)
            #expect(try await web.post("\(path)/sign", [("csrf", token), ("meaning", "reviewed"), ("record_hash", hash), ("password", WebFixture.password)]).status == 303)
            #expect(try fixture.db.scalar("SELECT meaning || '/' || role FROM batch_signatures") == "reviewed/qa")
        }

        @Test("sign-in is limited per user: after the allowed failures even the right password waits, told for how long, and it is audited")
        func loginLimitPerUser() async throws {
            let fixture = try await WebFixture { $0.loginFailuresPerUser = 3; $0.loginDelaySeconds = 600 }
            let web = fixture.client()
            for _ in 0..<3 { #expect(try await web.signIn("petra", "wrong password").status == 401) }
            let throttled = try await web.signIn("petra", WebFixture.password)
            #expect(throttled.status == 429 && throttled.body.contains("try again in"))
            // Another user from the same address is not held back by petra's failures.
            #expect(try await fixture.client().signIn("quinn", WebFixture.password).status == 303)
            let trail = try ControlAuditTrail.entries(fixture.db.connection)
            #expect(trail.filter { $0.action.action == "web.sign_in.failed" }.count == 3)
            #expect(trail.contains { $0.action.action == "web.sign_in.throttled" && $0.action.target == "petra" })
        }

        @Test("sign-in is limited per address: many user names tried from one address are held back")
        func loginLimitPerAddress() async throws {
            let fixture = try await WebFixture { $0.loginFailuresPerAddress = 4; $0.loginDelaySeconds = 600 }
            let web = fixture.client()
            for n in 0..<4 { #expect(try await web.signIn("guess-\(n)", "x").status == 401) }
            #expect(try await web.signIn("quinn", WebFixture.password).status == 429)
        }
    }
}

extension WebClient {
    func useCookie(_ pair: String) { setCookieForTest(pair) }
}

extension WebSuites {
    @Suite("The web pages refuse hostile input with a clear answer", .serialized)
    struct WebHostileInputTests {
        @Test("an oversized form, an overlong comment, odd ids and a redirect elsewhere get 4xx answers, never a crash or a sign")
        func hostileInput() async throws {
            let fixture = try await WebFixture()
            let web = fixture.client()
            let huge = try await web.post("/login", [("user", "petra"), ("password", String(repeating: "x", count: 100_000))])
            #expect((400..<500).contains(huge.status))
            // A sign-in form posted from elsewhere (without the sign-in page's token) signs nobody in.
            let forged = try await web.post("/login", [("user", "petra"), ("password", WebFixture.password)])
            #expect(forged.status == 403 && web.cookie == nil)
            let token = try await web.signInToken()
            let away = try await web.post("/login", [("user", "petra"), ("password", WebFixture.password), ("next", "//elsewhere.example/"),
                                                     ("csrf", token)], cookie: web.signInCookie)
            #expect(away.status == 303 && away.location == "/sites")
            let csrf = try await web.csrfToken()
            let path = "/batches/\(WebFixture.site)/\(WebFixture.batch)/sign"
            let long = try await web.post(path, [("csrf", csrf), ("meaning", "reviewed"), ("password", WebFixture.password),
                                                 ("comment", String(repeating: "c", count: 5000))])
            #expect(long.status == 400)
            #expect(try await web.get("/batches/%ZZ/%00").status == 404)
            #expect(try await web.get("/batches/site-a/\(String(repeating: "B", count: 5000))").status == 404)
            #expect(try await web.get("/comparability.csv?spec=&phase=expansion&reference=site-a").status == 400)
            #expect(try await web.get("/comparability?spec=\(fixture.spec)&phase=no-such-phase&reference=site-a").body.contains("has no phase"))
            #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = 'A-1'") == 0)
            // The server still answers.
            #expect(try await web.get("/sites").status == 200)
        }
    }
}
