import ControlSiteRecords
import ControlSiteWeb
import Foundation
import Testing
import TestSupport

extension WebSuites {
    /// The password re-entered at an e-signature is a guess like one at sign-in: it counts toward
    /// the same per-user and per-address throttle, waits grow, nothing is signed meanwhile, every
    /// failure is audited with the address and what was being signed, and the real user is never
    /// locked out. Over real HTTP against the web server; time is moved by moving the recorded
    /// attempts back, never by waiting.
    @Suite("Wrong passwords at signing are throttled like sign-in", .serialized)
    struct SignatureThrottleTests {
        @Test("8 wrong passwords at a batch signature: 5 refused, then 429 with Retry-After even for the right one, nothing signed; after the wait the right one signs; the audit shows each failure and the sign-in waits too")
        func batchSignatureThrottled() async throws {
            // A wait far longer than a test's requests take, so which answer is a 429 does not depend on speed.
            let fixture = try await WebFixture { $0.loginDelaySeconds = 600 }
            let path = "/batches/\(WebFixture.site)/\(WebFixture.endedBatch)"
            let quinn = fixture.client()
            try await quinn.signIn("quinn", WebFixture.password)
            let hash = try #require(quinn.hiddenField(try await quinn.get(path).body, "record_hash"))
            let csrf = try await quinn.csrfToken()
            func sign(_ password: String) async throws -> WebClient.Answer {
                try await quinn.post("\(path)/sign", [("csrf", csrf), ("meaning", "reviewed"), ("record_hash", hash), ("password", password)])
            }
            var statuses: [Int] = []
            for guess in 1...8 {
                let answer = try await sign("guess \(guess)")
                statuses.append(answer.status)
                if answer.status == 429 {
                    let retryAfter = try #require(answer.headers["retry-after"].flatMap(Int.init), "\(answer.headers)")
                    #expect((1...600).contains(retryAfter))
                    #expect(answer.body.contains("too many wrong passwords"))
                }
            }
            #expect(statuses == [401, 401, 401, 401, 401, 429, 429, 429])

            // The right password now is not even checked: refused with the wait, nothing signed.
            let early = try await sign(WebFixture.password)
            #expect(early.status == 429 && early.headers["retry-after"] != nil, "\(early.status)")
            #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = 'A-7'") == 0)

            // The same throttle holds at sign-in for quinn from this address.
            let again = fixture.client()
            let token = try await again.signInToken()
            let signIn = try await again.post("/login", [("user", "quinn"), ("password", WebFixture.password), ("csrf", token)],
                                              cookie: again.signInCookie)
            #expect(signIn.status == 429 && signIn.headers["retry-after"] != nil, "\(signIn.status)")

            // Once the wait is over, the real user signs: never locked out.
            try fixture.db.connection.execute("UPDATE web_login_attempts SET time = time - interval '601 seconds'")
            let signed = try await sign(WebFixture.password)
            #expect(signed.status == 303, "\(signed.status) \(signed.body.suffix(300))")
            #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = 'A-7' AND user_name = 'quinn'") == 1)

            // The audit trail names the user, the address and what was being signed, for every failure and every early try.
            let trail = try ControlAuditTrail.entries(fixture.db.connection).map(\.action)
            let failures = trail.filter { $0.action == "batch.sign.refused" }
            #expect(failures.count == 5)
            #expect(failures.allSatisfy { $0.user == "quinn" && $0.target == "site-a/A-7" && $0.reason == "wrong password" && $0.newValue == "from 127.0.0.1" },
                    "\(failures)")
            let throttled = trail.filter { $0.action == "batch.sign.throttled" }
            #expect(throttled.count == 4 && throttled.allSatisfy { $0.user == "quinn" && $0.target == "site-a/A-7" && $0.newValue == "127.0.0.1" })
            // QA sees them on the audit page, marked.
            let page = try await quinn.get("/audit?action=batch.sign.")
            #expect(page.body.components(separatedBy: "batch.sign.refused").count - 1 == 5)
            #expect(page.body.contains("badge bad") && page.body.contains("batch.sign.throttled") && page.body.contains("from 127.0.0.1"))
        }

        @Test("wrong passwords at a comparison signature and at a batch signature add up per user: the throttle is one")
        func signaturesShareOneThrottle() async throws {
            let fixture = try await WebFixture { $0.loginDelaySeconds = 600 }
            let quinn = fixture.client()
            try await quinn.signIn("quinn", WebFixture.password)
            var csrf = try await quinn.csrfToken()
            let stored = try await quinn.post("/comparisons", [("csrf", csrf), ("spec", fixture.spec), ("phase", "expansion"), ("reference", "site-a"),
                                                               ("kind", "qualification")])
            #expect(stored.status == 303)
            let reportHash = try #require(try fixture.db.scalar("SELECT report_hash FROM comparison_reports WHERE id = 1"))
            csrf = try await quinn.csrfToken()
            for guess in 1...3 {
                let answer = try await quinn.post("/comparisons/1/sign", [("csrf", csrf), ("hash", reportHash), ("meaning", "approved"), ("password", "guess \(guess)")])
                #expect(answer.status == 401)
            }
            let path = "/batches/\(WebFixture.site)/\(WebFixture.endedBatch)"
            let hash = try #require(quinn.hiddenField(try await quinn.get(path).body, "record_hash"))
            for guess in 4...5 {
                let answer = try await quinn.post("\(path)/sign", [("csrf", csrf), ("meaning", "reviewed"), ("record_hash", hash), ("password", "guess \(guess)")])
                #expect(answer.status == 401)
            }
            let sixth = try await quinn.post("/comparisons/1/sign", [("csrf", csrf), ("hash", reportHash), ("meaning", "approved"), ("password", WebFixture.password)])
            #expect(sixth.status == 429 && sixth.headers["retry-after"] != nil)
            #expect(try fixture.db.count("SELECT count(*) FROM comparison_signatures") == 0)
            #expect(try fixture.db.count("SELECT count(*) FROM control_audit WHERE action = 'comparison.sign.refused' AND new_value = 'from 127.0.0.1'") == 3)
        }
    }
}
