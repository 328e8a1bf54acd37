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
            var limits = SignIn.Limits()
            limits.perUser = settings.loginFailuresPerUser
            limits.perAddress = settings.loginFailuresPerAddress
            limits.windowSeconds = settings.loginWindowSeconds
            let address = context.remoteAddress, attemptLimits = limits
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
            case .throttled:
                logger.warning("sign-in throttled", metadata: ["user": "\(user.prefix(64))", "address": "\(address)"])
                return signInForm(message: "Too many failed sign-ins; wait and try again later.", next: next, status: .tooManyRequests)
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
                let specs = self.specs, quality = self.quality
                guard let data = try await database.run({ try SitePage.load(site: site, specs: specs, settings: quality, on: $0) }) else {
                    return Self.problem(.notFound, "No site \(site).", session: session)
                }
                return Self.html(SitePage.render(data, settings: quality, session: session))
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
                let specs = self.specs, quality = self.quality
                guard let data = try await database.run({
                    try BatchReviewPage.load(site: site, batch: batch, specs: specs, settings: quality, session: session, on: $0)
                }) else {
                    return Self.problem(.notFound, "No records of batch \(batch) at \(site).", session: session)
                }
                return Self.html(BatchReviewPage.render(data, session: session))
            }
        }

        router.get("/batches/:site/:batch/record.json") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await signedIn(request, api: true) { _ in
                let quality = self.quality
                let loaded = try await database.run { c -> BatchReviewPage.JSONRecord? in
                    guard let review = try BatchReview.load(site: site, batch: batch, settings: quality, on: c) else { return nil }
                    return .init(record: review.record, recordHash: review.recordHash, state: review.status.state.rawValue,
                                 signatures: review.status.signatures, exceptions: review.checks)
                }
                guard let loaded else { return Self.text("{\"error\":\"no such batch\"}\n", contentType: "application/json", status: .notFound) }
                return try Self.json(loaded)
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
                let quality = self.quality
                let signature = try await database.run {
                    try BatchSignatures.sign(site: site, batch: batch, meaning: meaning, shownHash: shown, comment: comment, userName: session.userName,
                                             password: password, settings: quality, on: $0)
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
                let password = form["password"] ?? "", reason = form["reason"] ?? ""
                try await database.run {
                    try BatchSignatures.withdraw(site: site, batch: batch, reason: reason, userName: session.userName, password: password, on: $0)
                }
                return Self.redirect("/batches/\(HTML.segment(site))/\(HTML.segment(batch))")
            }
        }

        router.get("/comparability") { [self] request, _ in
            try await signedIn(request) { session in
                let query = comparabilityQuery(request)
                let specs = self.specs
                let (choices, loaded) = try await database.run { c in
                    (try ComparabilityPage.choices(on: c), try query.map { try ComparabilityPage.load($0, specs: specs, on: c) })
                }
                return Self.html(ComparabilityPage.render(query: query, choices: choices, loaded: loaded, session: session))
            }
        }

        for format in ["csv", "json"] {
            router.get("/comparability.\(format)") { [self] request, _ in
                try await signedIn(request, api: true) { _ in
                    guard let query = comparabilityQuery(request) else {
                        return Self.text("spec, phase and reference are required\n", contentType: "text/plain", status: .badRequest)
                    }
                    let specs = self.specs
                    switch try await database.run({ try ComparabilityPage.load(query, specs: specs, on: $0) }) {
                    case .refused(let reason): return Self.text(reason + "\n", contentType: "text/plain", status: .badRequest)
                    case .report(let report, _):
                        return format == "csv"
                            ? Self.text(report.csv(), contentType: "text/csv; charset=utf-8", filename: "comparability-\(query.phase).csv")
                            : try Self.json(report)
                    }
                }
            }
        }

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

    /// The sign-in form with a fresh token, set also as a short-lived cookie (double submit).
    func signInForm(message: String?, next: String, status: HTTPResponse.Status) -> Response {
        let token = PasswordHash.randomToken()
        var response = Self.html(SignInPage.render(message: message, next: next, csrf: token), status: status)
        response.setCookie(Cookie(name: Self.signInCookie, value: token, maxAge: 3600, path: "/login",
                                  secure: settings.secureCookies || settings.servesTLS, httpOnly: true, sameSite: .strict))
        return response
    }

    func comparabilityQuery(_ request: Request) -> ComparabilityPage.Query? {
        let q = FormFields(request.uri.query ?? "")
        guard let spec = q["spec"], !spec.isEmpty, let phase = q["phase"], !phase.isEmpty, let reference = q["reference"], !reference.isEmpty,
              spec.count <= 80, phase.count <= 200, reference.count <= 200
        else { return nil }
        return .init(spec: spec, phase: phase, reference: reference)
    }
}
