import ControlSiteRecords
import Hashing
import POCareContract
import Foundation
import Hummingbird

/// The pages and what each answers; GET reads, POST changes (and carries a CSRF token).
extension ControlSiteWebServer {
    func addRoutes(_ router: Router<WebRequestContext>) {
        router.get("/") { _, _ in Self.redirect("/sites") }
        addQualityRoutes(router)

        router.get("/login") { [self] request, _ in
            let next = FormFields(request.uri.query ?? "")["next"] ?? "/sites"
            return signInForm(message: nil, next: next, status: .ok)
        }

        router.post("/login") { [self] request, context in
            var request = request
            let form = FormFields(String(buffer: try await request.collectBody(upTo: 16 * 1024)))
            let user = form["user"] ?? "", password = form["password"] ?? ""
            // Only a path of this site: never an address elsewhere (`//host`).
            var next = form["next"] ?? "/sites"
            if !next.hasPrefix("/") || next.hasPrefix("//") || next.hasPrefix("/\\") { next = "/sites" }
            // The sign-in form is a form too: it must come from this site's own sign-in page (its
            // token in a cookie and in the form), so no other site can sign a browser in as someone else.
            guard let cookie = request.cookies[Self.signInCookie]?.value, let field = form["csrf"], Self.sameToken(cookie, field) else {
                logger.warning("a sign-in without the sign-in page's token was refused", metadata: ["address": "\(context.remoteAddress)"])
                return signInForm(message: "The sign-in form had expired; please sign in again.", next: next, status: .forbidden)
            }
            let address = context.remoteAddress, attemptLimits = signInLimits
            let outcome = try await database.run {
                try SignIn.attempt(userName: user, password: password, address: address, limits: attemptLimits, on: $0)
            }
            switch outcome {
            case .signedIn(let token, _, let name):
                logger.info("signed in", metadata: ["user": "\(name)", "address": "\(address)"])
                var response = Self.redirect(next)
                response.setCookie(sessionCookie(token))
                return response
            case .refused:
                logger.notice("sign-in refused", metadata: ["user": "\(user.prefix(64))", "address": "\(address)"])
                return signInForm(message: "The user name or the password is not correct.", next: next, status: .unauthorized)
            case .throttled(let retryAfter):
                logger.warning("sign-in throttled", metadata: ["user": "\(user.prefix(64))", "address": "\(address)", "retry_after": "\(retryAfter)"])
                var response = signInForm(message: "Too many failed sign-ins; try again in \(retryAfter) s.", next: next, status: .tooManyRequests)
                response.headers[.retryAfter] = "\(retryAfter)"
                return response
            }
        }

        router.post("/logout") { [self] request, context in
            try await signedInForm(request, context: context) { session, _ in
                if let token = request.cookies[Self.sessionCookie]?.value {
                    let address = context.remoteAddress
                    try await database.run { try SignIn.signOut(token: token, userName: session.userName, address: address, on: $0) }
                }
                var response = Self.redirect("/login")
                response.setCookie(sessionCookie("", expire: true))
                return response
            }
        }

        router.get("/sites") { [self] request, _ in
            try await signedIn(request) { session in
                let quality = self.quality
                let data = try await database.run { try SitesPage.load(settings: quality, on: $0) }
                return Self.html(SitesPage.render(data, session: session, refresh: FormFields(request.uri.query ?? "")["refresh"] != nil))
            }
        }

        router.get("/sites.json") { [self] request, _ in
            try await signedIn(request, api: true) { _ in try Self.json(try await database.run { try SiteOverview.load($0) }) }
        }

        router.get("/sites/:site") { [self] request, context in
            let site = Self.parameter(context, "site")
            return try await signedIn(request) { session in
                let specs = self.specs, limits = BatchReviewPage.Limits(settings), quality = self.quality
                return try await boundedPage(request) { c, budget in
                    guard let data = try SitePage.load(site: site, specs: specs, limits: limits, settings: quality, on: c) else {
                        return Self.problem(.notFound, "No site \(site).", session: session)
                    }
                    try budget.check()
                    return Self.html(SitePage.render(data, settings: quality, session: session))
                }
            }
        }

        router.get("/batches") { [self] request, _ in
            try await signedIn(request) { session in
                let filter = FormFields(request.uri.query ?? "")["state"].flatMap { BatchStates.all.contains($0) ? $0 : nil }
                let (batches, states) = try await database.run { c in
                    let batches = try BatchSummary.list(c)
                    return (batches, try BatchStates.load(batches, on: c))
                }
                return Self.html(BatchesPage.render(batches, states: states, filter: filter, session: session))
            }
        }

        router.get("/batches/:site/:batch") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await signedIn(request) { session in
                let specs = self.specs, limits = BatchReviewPage.Limits(settings), quality = self.quality
                return try await boundedPage(request) { c, budget in
                    guard let data = try BatchReviewPage.load(site: site, batch: batch, specs: specs, limits: limits, budget: budget,
                                                              settings: quality, userName: session.userName, on: c) else {
                        return Self.problem(.notFound, "No records of batch \(batch) at \(site).", session: session)
                    }
                    try budget.check()
                    return Self.html(BatchReviewPage.render(data, session: session))
                }
            }
        }

        router.get("/batches/:site/:batch/record.json") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await signedIn(request, api: true) { _ in
                let specs = self.specs, limits = BatchReviewPage.Limits(settings), quality = self.quality
                return try await boundedPage(request) { c, budget in
                    var reader = limits.reader
                    reader.plotColumns = nil
                    guard let review = try BatchReview.load(
                        site: site, batch: batch, settings: quality, specs: specs.lookup, eventLimit: limits.maxRows, limits: reader,
                        checkpoint: budget.check, on: c)
                    else { return Self.text("{\"error\":\"no such batch\"}\n", contentType: "application/json", status: .notFound) }
                    try budget.check()
                    return try Self.json(BatchReviewPage.JSONRecord(
                        record: review.record, recordHash: review.recordHash, state: review.status.state.rawValue,
                        signatures: review.status.signatures, exceptions: review.checks))
                }
            }
        }

        router.post("/batches/:site/:batch/sign") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await qualityForm(request, context) { session, form in
                guard session.role.maySign else {
                    try await refused(session, action: "batch.sign", target: "\(site)/\(batch)", reason: "not permitted: the role \(session.role.rawValue) does not sign")
                    throw QualityRefusal(.notPermitted, "Your role (\(session.role.rawValue)) does not sign batch records.")
                }
                guard let meaning = form["meaning"].flatMap(Disposition.Meaning.init(rawValue:)) else {
                    throw QualityRefusal(.invalidInput, "meaning: expected one of \(Disposition.Meaning.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let password = form["password"] ?? "", comment = form["comment"] ?? "", shown = form["record_hash"] ?? ""
                let quality = self.quality, lookup = specs.lookup, throttle = signatureThrottle(context)
                let signature = try await database.run {
                    try BatchSignatures.sign(site: site, batch: batch, meaning: meaning, shownHash: shown, comment: comment, userName: session.userName,
                                             password: password, settings: quality, specs: lookup, throttle: throttle, on: $0)
                }
                logger.notice("batch record signed", metadata: [
                    "site": "\(site)", "batch": "\(batch)", "user": "\(session.userName)", "meaning": "\(meaning.rawValue)",
                    "record": "\(signature.recordHash)",
                ])
                return Self.redirect("/batches/\(HTML.segment(site))/\(HTML.segment(batch))")
            }
        }

        router.post("/batches/:site/:batch/withdraw") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await qualityForm(request, context) { session, form in
                let password = form["password"] ?? "", reason = form["reason"] ?? "", throttle = signatureThrottle(context)
                try await database.run {
                    try BatchSignatures.withdraw(site: site, batch: batch, reason: reason, userName: session.userName, password: password,
                                                 throttle: throttle, on: $0)
                }
                return Self.redirect("/batches/\(HTML.segment(site))/\(HTML.segment(batch))")
            }
        }

        addComparabilityRoutes(router)

        router.get("/specs") { [self] request, _ in
            try await signedIn(request) { session in
                let specs = self.specs
                return Self.html(SpecsPage.render(try await database.run { try SpecsPage.load(specs: specs, on: $0) }, session: session))
            }
        }

        router.get("/audit") { [self] request, _ in
            try await signedIn(request) { session in
                let filter = AuditPage.filter(FormFields(request.uri.query ?? ""))
                return Self.html(AuditPage.render(try await database.run { try AuditPage.load(filter, on: $0) }, session: session))
            }
        }
    }

    /// A page whose cost grows with the data: prepared and rendered on the page threads within
    /// their time budget, and given up (its statement cancelled) when the client leaves. The
    /// connection closes after it: watching for the client's leaving reads the request stream.
    func boundedPage(
        _ request: Request, _ body: @escaping @Sendable (PostgresConnection, DatabaseWorkers.Budget) throws -> Response
    ) async throws -> Response {
        var response = try await request.body.consumeWithCancellationOnInboundClose { _ in try await pages.run(body) }
        response.headers[.connection] = "close"
        return response
    }

    /// The sign-in form with a fresh token, set also as a short-lived cookie (double submit).
    func signInForm(message: String?, next: String, status: HTTPResponse.Status) -> Response {
        let token = PasswordHash.randomToken()
        var response = Self.html(SignInPage.render(message: message, next: next, csrf: token), status: status)
        response.setCookie(Cookie(name: Self.signInCookie, value: token, maxAge: 3600, path: "/login",
                                  secure: settings.secureCookies || settings.servesTLS, httpOnly: true, sameSite: .strict))
        return response
    }
}
