import ControlSiteRecords
import Hashing
import Hummingbird

/// Signing in and out: the sign-in form carries its own token (double submit), failures are
/// throttled per user and address, and the session cookie is set only by a correct password.
extension ControlSiteWebServer {
    func addSignInRoutes(_ router: Router<WebRequestContext>) {
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
