import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Hummingbird
import POCareConfig

/// The quality system's pages: change control, deviations, the Master File's
/// forms. Every POST is a signed-in form with the session's CSRF token; the quality system
/// itself checks the role, the state and (for signatures) the password, and a refusal answers
/// with the status its kind maps to (400, 401, 403, 404, 409), audited.
extension ControlSiteWebServer {
    func addQualityRoutes(_ router: Router<WebRequestContext>) {
        addChangeControlRoutes(router)
        addDeviationRoutes(router)
    }

    /// Change control: the list, one change, requesting, deciding and withdrawing one.
    func addChangeControlRoutes(_ router: Router<WebRequestContext>) {
        router.get("/changes") { [self] request, _ in
            try await signedIn(request) { session in
                let state = FormFields(request.uri.query ?? "")["state"].flatMap { ["proposed", "approved", "rejected", "withdrawn"].contains($0) ? $0 : nil }
                let changes = try await database.run { try ChangeControl.list(state: state, on: $0) }
                return Self.html(ChangesPage.renderList(changes, state: state, session: session))
            }
        }

        router.get("/changes/:id") { [self] request, context in
            let text = Self.parameter(context, "id")
            return try await signedIn(request) { session in
                // A reference that does not parse names nothing: the same 404 as an unknown one.
                guard let id = try? ChangeControl.parseReference(text),
                      let change = try await database.run({ try ChangeControl.find(id, on: $0) })
                else { return Self.problem(.notFound, "No change \(text).", session: session) }
                return Self.html(ChangesPage.renderDetail(change, session: session))
            }
        }

        router.post("/changes/:id/decide") { [self] request, context in
            let text = Self.parameter(context, "id")
            return try await qualityForm(request, context) { session, form in
                let id = try ChangeControl.parseReference(text)
                guard let decision = form["decision"].flatMap(ChangeControl.Decision.init(rawValue:)) else {
                    throw QualityRefusal(.invalidInput, "decision: approve or reject")
                }
                let password = form["password"] ?? "", hash = form["hash"] ?? "", comment = form["comment"] ?? ""
                let settings = quality, throttle = signatureThrottle(context)
                _ = try await database.run {
                    try ChangeControl.decide(id, decision, shownHash: hash, comment: comment, userName: session.userName, password: password,
                                             settings: settings, throttle: throttle, on: $0)
                }
                return Self.redirect("/changes/\(id)")
            }
        }

        router.post("/changes/:id/withdraw") { [self] request, context in
            let text = Self.parameter(context, "id")
            return try await qualityForm(request, context) { session, form in
                let id = try ChangeControl.parseReference(text)
                let reason = form["reason"] ?? ""
                _ = try await database.run { c in try ChangeControl.withdraw(id, reason: reason, by: try Self.actor(session, c), on: c) }
                return Self.redirect("/changes/\(id)")
            }
        }

        router.post("/changes") { [self] request, context in
            try await qualityForm(request, context) { session, form in
                let content = try MasterFileForms.content(form, profiles: specs.profiles)
                let reason = form["reason"] ?? ""
                let change = try await database.run { c in try ChangeControl.request(content, reason: reason, by: try Self.actor(session, c), on: c) }
                return Self.redirect("/changes/\(change.id)")
            }
        }
    }

    /// Deviations: the list, one deviation, reporting one and the steps of its investigation.
    func addDeviationRoutes(_ router: Router<WebRequestContext>) {
        router.get("/deviations") { [self] request, _ in
            try await signedIn(request) { session in
                let query = FormFields(request.uri.query ?? "")
                let state = query["state"].flatMap { ["open", "under_investigation", "closed"].contains($0) ? $0 : nil }
                let site = query["site"].flatMap { $0.isEmpty || $0.count > 64 ? nil : $0 }
                let list = try await database.run { try Deviations.list(site: site, state: state, on: $0) }
                return Self.html(DeviationsPage.renderList(list, state: state, site: site, session: session))
            }
        }

        router.get("/deviations/:id") { [self] request, context in
            let text = Self.parameter(context, "id")
            return try await signedIn(request) { session in
                // A reference that does not parse names nothing: the same 404 as an unknown one.
                guard let id = try? Deviations.parseReference(text),
                      let loaded = try await database.run({ c -> (Deviations.Record, [ControlAuditTrail.Entry])? in
                          guard let d = try Deviations.find(id, on: c) else { return nil }
                          return (d, try ControlAuditTrail.entries(target: d.reference, on: c))
                      })
                else { return Self.problem(.notFound, "No deviation \(text).", session: session) }
                return Self.html(DeviationsPage.renderDetail(loaded.0, history: loaded.1, session: session))
            }
        }

        router.post("/deviations") { [self] request, context in
            try await qualityForm(request, context) { session, form in
                let site = form["site"] ?? "", title = form["title"] ?? "", description = form["description"] ?? ""
                let batches = (form["batches"] ?? "").split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
                let d = try await database.run { c in
                    try Deviations.open(site: site, batches: batches, title: title, description: description, by: try Self.actor(session, c), on: c)
                }
                return Self.redirect("/deviations/\(d.id)")
            }
        }

        router.post("/deviations/:id/:action") { [self] request, context in
            let text = Self.parameter(context, "id"), action = Self.parameter(context, "action")
            return try await qualityForm(request, context) { session, form in
                let id = try Deviations.parseReference(text)
                switch action {
                case "classify":
                    guard let c = form["classification"].flatMap(Deviations.Classification.init(rawValue:)) else {
                        throw QualityRefusal(.invalidInput, "classification: minor, major or critical")
                    }
                    _ = try await database.run { db in try Deviations.classify(id, as: c, by: try Self.actor(session, db), on: db) }
                case "update":
                    let investigation = form["investigation"], rootCause = form["root_cause"], capa = form["capa"]
                    _ = try await database.run { db in
                        try Deviations.update(id, investigation: investigation, rootCause: rootCause, capa: capa, by: try Self.actor(session, db), on: db)
                    }
                case "close":
                    guard let version = form["version"].flatMap(Int64.init) else { throw QualityRefusal(.invalidInput, "the form lacks the deviation's version") }
                    let comment = form["comment"] ?? "", password = form["password"] ?? "", throttle = signatureThrottle(context)
                    _ = try await database.run {
                        try Deviations.close(id, comment: comment, shownVersion: version, userName: session.userName, password: password,
                                             throttle: throttle, on: $0)
                    }
                default:
                    throw QualityRefusal(.notFound, "no action \(action.prefix(40)) on a deviation")
                }
                return Self.redirect("/deviations/\(id)")
            }
        }
    }

    /// The signed-in user as the quality system knows them.
    static func actor(_ session: WebSessions.Session, _ connection: PostgresConnection) throws -> WebUsers.User {
        guard let user = try WebUsers.find(session.userName, on: connection) else { throw QualityRefusal(.notAuthenticated, "sign in again") }
        return user
    }

    /// A quality-system form: CSRF-checked, and a refusal answered with its kind's status.
    func qualityForm(_ request: Request, _ context: WebRequestContext,
                     _ body: (WebSessions.Session, FormFields) async throws -> Response) async throws -> Response {
        try await signedInForm(request, context: context) { session, form in
            do {
                return try await body(session, form)
            } catch let refusal as QualityRefusal {
                logger.notice("a quality-system action was refused", metadata: [
                    "user": "\(session.userName)", "path": "\(request.uri.path)", "reason": "\(refusal.message)",
                ])
                return Self.refusal(refusal, session: session)
            }
        }
    }

    /// A refusal answered with its kind's status; a throttled one with `Retry-After`, as sign-in.
    static func refusal(_ refusal: QualityRefusal, session: WebSessions.Session) -> Response {
        var response = problem(.init(code: refusal.httpStatus), refusal.message, session: session)
        if let seconds = refusal.retryAfterSeconds { response.headers[.retryAfter] = "\(seconds)" }
        return response
    }

    /// The sign-in throttle's limits (web: login_*), which the password at signing shares.
    var signInLimits: SignIn.Limits {
        var limits = SignIn.Limits()
        limits.perUser = settings.loginFailuresPerUser
        limits.perAddress = settings.loginFailuresPerAddress
        limits.windowSeconds = settings.loginWindowSeconds
        limits.firstDelaySeconds = settings.loginDelaySeconds
        return limits
    }

    /// The throttle a password entered at signing from this request's address counts toward.
    func signatureThrottle(_ context: WebRequestContext) -> SignatureThrottle {
        SignatureThrottle(address: context.remoteAddress, limits: signInLimits)
    }
}
