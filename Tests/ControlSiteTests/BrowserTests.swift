import ControlSiteQuality
import ControlSiteRecords
import POCareContract
import Foundation
import POCareConfig
import Testing
import TestSupport

/// The test command installs Chromium and says so (POCARE_REQUIRE_BROWSER=1), as CI does (CI=true):
/// then a missing browser is a failure, not a skip.
let browserTestEnabled = WebDriver.installed || ProcessInfo.processInfo.environment["CI"] == "true"
    || ProcessInfo.processInfo.environment["POCARE_REQUIRE_BROWSER"] == "1"

extension WebSuites {
    @Suite("The web pages in a real browser (headless Chromium)", .serialized, .enabled(if: browserTestEnabled))
    struct BrowserTests {
        @Test("a QP signs in, sees the sites, the batch's trends and the excursion, zooms in on its samples, two sites' batch means; QA reviews and the QP certifies a batch; a changed record shows INVALID on the page and the list")
        func reviewAndSign() async throws {
            let fixture = try await WebFixture()
            let browser = try await WebDriver()
            do {
                try await walkThrough(fixture, browser)
                await browser.quit()
            } catch {
                await browser.quit()
                throw error
            }
        }

        func walkThrough(_ fixture: WebFixture, _ browser: WebDriver) async throws {
            let base = "http://127.0.0.1:\(fixture.port)"
            let screenshots = ProcessInfo.processInfo.environment["POCARE_SCREENSHOTS"]
            try await browser.open(base + "/sites")
            // Sent to sign in, then back to the sites.
            try await browser.type("input[name=user]", "petra")
            try await browser.type("input[name=password]", WebFixture.password)
            try await browser.click("button[type=submit]")
            #expect(try await browser.waitUntil("document.title === 'Sites · POCare Control Site'"))
            #expect(try await browser.run("return document.querySelectorAll('table.sites tbody tr').length") as? Int == 2)
            let sites = try await browser.run("return document.querySelector('table.sites').innerText") as? String ?? ""
            #expect(sites.contains("online") && sites.contains("offline") && sites.contains("1 medium"))
            if let screenshots { try await save(browser, "\(screenshots)/sites.png", height: 700) }

            try await browser.open(base + "/batches/\(WebFixture.site)/\(WebFixture.batch)")
            let plots = try #require(try await browser.run("""
                return Array.from(document.querySelectorAll('svg.trend-plot')).map(s => ({
                  parameter: s.dataset.parameter,
                  paths: s.querySelectorAll('path.trend').length,
                  drawn: s.querySelector('path.trend').getTotalLength(),
                  bands: s.querySelectorAll('g.phase-band').length,
                  excursions: s.querySelectorAll('rect.excursion').length,
                  unmonitored: s.querySelectorAll('rect.unmonitored').length,
                  markers: s.querySelectorAll('g.alarm-marker title').length }))
                """) as? [[String: Any]])
            #expect(Set(plots.compactMap { $0["parameter"] as? String }) == ["temperature", "ph"])
            for plot in plots {
                #expect(plot["paths"] as? Int == 1)
                #expect((plot["drawn"] as? Double ?? 0) > 100)
                #expect(plot["bands"] as? Int == 2)  // activation and expansion
                #expect(plot["unmonitored"] as? Int == 1)
            }
            let temperature = try #require(plots.first { $0["parameter"] as? String == "temperature" })
            #expect((temperature["excursions"] as? Int ?? 0) >= 1 && temperature["markers"] as? Int == 3)
            if let screenshots { try await save(browser, "\(screenshots)/batch-review.png", height: 1000, from: "div.plots") }

            // Zoomed in through the page's own form: every sample around the excursion (samples 95...115).
            let feedStart = SiteFeed(site: WebFixture.site).start
            _ = try await browser.run("""
                document.querySelector('form.zoom input[name=from]').value = '\(Contract.format(feedStart.addingTimeInterval(95)))';
                document.querySelector('form.zoom input[name=to]').value = '\(Contract.format(feedStart.addingTimeInterval(115)))';
                return true
                """)
            try await browser.click("form.zoom button[type=submit]")
            #expect(try await browser.waitUntil("document.querySelector('p.window-summary')"))
            let zoomed = try #require(try await browser.run("""
                return { summary: document.querySelector('p.window-summary').textContent,
                         plots: Array.from(document.querySelectorAll('svg.trend-plot')).map(s => ({
                           parameter: s.dataset.parameter, excursions: s.querySelectorAll('rect.excursion').length })) }
                """) as? [String: Any])
            #expect((zoomed["summary"] as? String ?? "").contains("rocker-1: 21 samples"), "\(zoomed)")
            let zoomedPlots = zoomed["plots"] as? [[String: Any]] ?? []
            #expect(Set(zoomedPlots.compactMap { $0["parameter"] as? String }) == ["temperature", "ph"], "\(zoomed)")
            #expect((zoomedPlots.first { $0["parameter"] as? String == "temperature" }?["excursions"] as? Int ?? 0) >= 1, "\(zoomed)")

            try await browser.open(base + "/comparability?spec=\(fixture.spec)&phase=expansion&reference=site-a")
            let boxes = try #require(try await browser.run("""
                return Array.from(document.querySelectorAll('svg.batch-means')).map(s => s.querySelectorAll('g.site').length)
                """) as? [Int])
            #expect(!boxes.isEmpty && boxes.allSatisfy { $0 == 2 })
            if let screenshots { try await save(browser, "\(screenshots)/comparability.png", height: 1100) }

            // The disposition of the ended batch: QA reviews it, then the QP certifies it, each
            // through the form with the password entered again.
            let ended = base + "/batches/\(WebFixture.site)/\(WebFixture.endedBatch)"
            try await signOut(browser)
            try await signIn(browser, base, "quinn", next: ended)
            #expect(try await browser.waitUntil("document.querySelector('p.no-exceptions') !== null"))
            try await browser.click("select[name=meaning] option[value='reviewed']")
            try await browser.type("form.sign textarea[name=comment]", "Reviewed by exception: none.")
            try await browser.type("form.sign input[name=password]", WebFixture.password)
            try await browser.click("form.sign button[type=submit]")
            #expect(try await browser.waitUntil("document.querySelector('table.signatures')?.innerText.includes('Quinn Assurance')"))
            try await signOut(browser)
            try await signIn(browser, base, "petra", next: ended)
            #expect(try await browser.waitUntil("document.querySelector('form.sign select[name=meaning]') !== null"))
            try await browser.click("select[name=meaning] option[value='certified']")
            try await browser.type("form.sign textarea[name=comment]", "Certified for release.")
            try await browser.type("form.sign input[name=password]", WebFixture.password)
            if let screenshots { try await save(browser, "\(screenshots)/disposition.png", height: 1100) }
            try await browser.click("form.sign button[type=submit]")
            #expect(try await browser.waitUntil("document.querySelector('table.signatures')?.innerText.includes('Dr Petra Qualified')"))
            let signatures = try await browser.run("return document.querySelector('table.signatures').innerText") as? String ?? ""
            #expect(signatures.contains("Quinn Assurance") && signatures.contains("certified") && signatures.contains("valid") && !signatures.contains("INVALID"))
            let trail = try ControlAuditTrail.entries(fixture.db.connection)
            #expect(trail.contains { $0.action.action == "batch.sign" && $0.action.user == "petra" && $0.action.reason == "Certified for release." })

            // A stored sample is changed afterwards: the page and the list say INVALID.
            try fixture.db.connection.execute("""
                UPDATE samples SET "values" = '{"temperature":39.0,"ph":7.2}' WHERE site = 'site-a' AND stream = 'str-1/telemetry' AND seq = 12
                """)
            try await browser.open(ended)
            let invalid = try await browser.run("return document.querySelector('table.signatures').innerText") as? String ?? ""
            #expect(invalid.components(separatedBy: "INVALID").count - 1 == 2)
            try await browser.open(base + "/batches?state=invalid")
            let list = try await browser.run("return document.querySelector('table.batches').innerText") as? String ?? ""
            #expect(list.contains(WebFixture.endedBatch) && list.contains("INVALID"))
        }

        func signIn(_ browser: WebDriver, _ base: String, _ user: String, next: String) async throws {
            try await browser.open(base + "/login?next=" + (String(next.dropFirst(base.count)).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            try await browser.type("input[name=user]", user)
            try await browser.type("input[name=password]", WebFixture.password)
            try await browser.click("button[type=submit]")
            #expect(try await browser.waitUntil("document.querySelector('nav .who') !== null"))
        }

        func signOut(_ browser: WebDriver) async throws {
            try await browser.click("nav form.inline button")
            #expect(try await browser.waitUntil("document.querySelector('input[name=user]') !== null"))
        }

        @Test("QA approves a spec release another QA person requested, and closes a deviation with a signature, in a real browser")
        func qualitySystem() async throws {
            let fixture = try await WebFixture()
            // Quinn requests the release of version 1.1 and opens a deviation (investigated, ready to close).
            let (change, deviation) = try await onOwnThread { () throws -> (Int64, Int64) in
                let db = fixture.db
                let text = try exampleSpecVersion("1.1")
                let parsed = SpecLoader.parse(text, file: "1.1", profiles: SpecLoader.profileCatalogue(directory: shippedProfiles))
                guard let spec = parsed.spec else { throw TestFailure("spec 1.1: \(parsed.diagnostics)") }
                let id = spec.identity
                let change = try ChangeControl.request(.specRelease(.init(
                    fingerprint: spec.fingerprint, product: id.product, document: id.documentId, version: id.version, approvedBy: id.approvedBy,
                    approvalDate: id.approvalDate, profiles: id.profiles, specText: text)), reason: "version 1.1 approved under DOC-43",
                    by: try db.user("quinn"), on: db.connection)
                try db.approvedChange(.personnelRegister(site: "site-a", .init(person: "Olga Operator", account: "operator-7", role: .operator,
                                                                               trainingDate: "2026-03-02")))
                try db.approvedChange(.personnelRegister(site: "site-a", .init(person: "Rui Reviewer", account: "rui", role: .reviewer,
                                                                               trainingDate: "2025-09-15")))
                let d = try Deviations.open(site: "site-a", batches: [WebFixture.batch], title: "Temperature excursion in A-1",
                                            description: "38.6 degC for 10 s in expansion", by: try db.user("quinn"), on: db.connection)
                try Deviations.classify(d.id, as: .minor, by: try db.user("quinn"), on: db.connection)
                try Deviations.update(d.id, investigation: "Heater relay stuck on; probe verified against reference thermometer",
                                      rootCause: "Worn heater relay", capa: "", by: try db.user("quinn"), on: db.connection)
                return (change.id, d.id)
            }
            let browser = try await WebDriver()
            do {
                let base = "http://127.0.0.1:\(fixture.port)"
                let screenshots = ProcessInfo.processInfo.environment["POCARE_SCREENSHOTS"]
                try await browser.open(base + "/changes/\(change)")
                try await browser.type("input[name=user]", "alex")
                try await browser.type("input[name=password]", WebFixture.password)
                try await browser.click("button[type=submit]")
                #expect(try await browser.waitUntil("document.title.startsWith('Change CC-')"))
                try await browser.click("select[name=decision] option[value='approve']")
                try await browser.type("textarea[name=comment]", "Checked against DOC-43.")
                try await browser.type("form.sign input[name=password]", WebFixture.password)
                if let screenshots { try await save(browser, "\(screenshots)/change-approval.png", height: 1000) }
                try await browser.click("form.sign button[type=submit]")
                #expect(try await browser.waitUntil("document.querySelector('dl.record')?.innerText.includes('Alex Approver')"))
                let record = try await browser.run("return document.querySelector('dl.record').innerText") as? String ?? ""
                #expect(record.contains("approved") && record.contains("Effective"))
                #expect(try fixture.db.count("SELECT count(*) FROM released_specs WHERE version = '1.1' AND release_change = \(change)") == 1)

                try await browser.open(base + "/deviations/\(deviation)")
                try await browser.type("form.close-deviation textarea[name=comment]", "Relay replaced under the minor-deviation procedure.")
                try await browser.type("form.close-deviation input[name=password]", WebFixture.password)
                try await browser.click("form.close-deviation button[type=submit]")
                #expect(try await browser.waitUntil("document.querySelector('dl.record')?.innerText.includes('Relay replaced')"))
                let closed = try await browser.run("return document.querySelector('dl.record').innerText") as? String ?? ""
                #expect(closed.contains("closed") && closed.contains("Relay replaced"))
                if let screenshots { try await save(browser, "\(screenshots)/deviation.png", height: 1100) }
                try await browser.open(base + "/sites/site-a")
                if let screenshots { try await save(browser, "\(screenshots)/master-file.png", height: 1200) }
                let trail = try ControlAuditTrail.entries(fixture.db.connection)
                #expect(trail.contains { $0.action.action == "change.approve" && $0.action.user == "alex" })
                #expect(trail.contains { $0.action.action == "deviation.close" && $0.action.user == "alex" })
                await browser.quit()
            } catch {
                await browser.quit()
                throw error
            }
        }

        func save(_ browser: WebDriver, _ path: String, height: Int, from selector: String? = nil) async throws {
            try await browser.resize(width: 1400, height: height)
            if let selector { _ = try await browser.run("document.querySelector('\(selector)').previousElementSibling.scrollIntoView()") }
            try await browser.screenshot().write(to: URL(fileURLWithPath: path))
            try await browser.resize(width: 1400, height: 1000)
        }
    }
}
