import ControlSiteRecords
import POCareContract
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import ServiceLifecycle

/// The QA/QP pages of `pocare-control run`: routes, sessions, CSRF, signatures. Every
/// database call goes to `DatabaseWorkers`' threads; the handlers only await them.
public final class ControlSiteWebServer: Service, Sendable {
    let settings: WebSettings
    /// Sign-in, sessions, withdrawals and the lists.
    let database: DatabaseWorkers
    /// The pages whose cost grows with the data, bounded (`WebSettings.page…`).
    let pages: DatabaseWorkers
    /// Batch signatures, which read the batch whole from its rows (`WebSettings.signBudgetSeconds`).
    let signing: DatabaseWorkers
    let specs: SpecCatalogue
    /// Reads batch pages ahead, so a batch of weeks is shown from what was read for its record as it is.
    let preparer: BatchReviewPreparer
    /// The quality system's periods and limits (control.yaml's `qms:`).
    let quality: QualitySettings
    let logger: Logger
    static let sessionCookie = "pocare_session"
    static let signInCookie = "pocare_sign_in"

    /// Compares two tokens in time that does not depend on where they differ.
    static func sameToken(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && !a.isEmpty && zip(a.utf8, b.utf8).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    public init(settings: WebSettings, connectionInfo: String, quality: QualitySettings = QualitySettings(), logger: Logger) {
        self.settings = settings
        self.quality = quality
        self.database = DatabaseWorkers(
            connectionInfo: connectionInfo,
            limits: .init(threads: settings.databaseThreads, queue: 64, budgetSeconds: max(60, settings.pageBudgetSeconds)), logger: logger)
        self.pages = DatabaseWorkers(
            connectionInfo: connectionInfo, name: "web-page",
            limits: .init(threads: settings.pageThreads, queue: settings.pageQueue, budgetSeconds: settings.pageBudgetSeconds), logger: logger)
        // One signature at a time reads a batch whole; others wait their turn rather than share the cores.
        self.signing = DatabaseWorkers(
            connectionInfo: connectionInfo, name: "web-sign",
            limits: .init(threads: 1, queue: 16, budgetSeconds: settings.signBudgetSeconds), logger: logger)
        self.specs = SpecCatalogue(profilesDirectory: settings.profiles)
        self.preparer = BatchReviewPreparer(connectionInfo: connectionInfo, settings: settings, specs: specs, logger: logger)
        self.logger = logger
    }

    var lifetime: WebSessions.Lifetime { .init(idleSeconds: settings.sessionIdleSeconds, absoluteSeconds: settings.sessionMaxSeconds) }

    /// As a service of `pocare-control run`: serves until the service group shuts down.
    public func run() async throws {
        let logger = self.logger, address = settings.address
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await self.run { port in logger.notice("web pages listening", metadata: ["address": "\(address)", "port": "\(port)"]) }
            }
            // Returns at the group's graceful shutdown (or cancellation): then the pages stop.
            group.addTask { try? await gracefulShutdown() }
            // Whichever ends first: a server that failed ends the service (and so the process).
            try await group.next()
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// Serves until the task is cancelled, then stops gracefully (requests in progress are
    /// answered); `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router(context: WebRequestContext.self)
        router.add(middleware: SecurityHeaders())
        addRoutes(router)
        let app = Application(
            router: router, server: try serverBuilder(),
            configuration: .init(address: .hostname(settings.address, port: settings.port), serverName: "pocare-control"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        // The process's signals belong to `pocare-control run`; the pages stop when their task is cancelled.
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        // A task of its own, so the caller's cancellation reaches the server as a graceful shutdown, not as cancellation.
        let serving = Task { try await group.run() }
        let preparing = Task { [preparer] in await preparer.run() }
        let outcome = await withTaskCancellationHandler {
            await serving.result
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
        preparing.cancel()
        await preparer.stop()
        // The database threads are joined without holding a thread of the pool.
        await database.stop(within: .seconds(2))
        await pages.stop(within: .seconds(2))
        await signing.stop(within: .seconds(2))
        try outcome.get()
    }

    /// HTTP/1.1, over TLS when the settings name a certificate and key.
    func serverBuilder() throws -> HTTPServerBuilder {
        guard let certificate = settings.tlsCertificateFile, let key = settings.tlsKeyFile else { return .http1() }
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        return try .tls(.http1(), tlsConfiguration: tls)
    }

    // MARK: responses

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func text(_ text: String, contentType: String, status: HTTPResponse.Status = .ok, filename: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: contentType]
        if let filename { headers[.contentDisposition] = "attachment; filename=\"\(filename)\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return text(String(decoding: try encoder.encode(value), as: UTF8.self), contentType: "application/json")
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func problem(_ status: HTTPResponse.Status, _ message: String, session: WebSessions.Session?) -> Response {
        html(HTML.page(title: "\(status.code) \(status.reasonPhrase)", session: session,
                       body: "<p class=\"notice\">\(HTML.escape(message))</p><p><a href=\"/sites\">Sites</a></p>"), status: status)
    }

    // MARK: sessions

    func session(_ request: Request) async throws -> WebSessions.Session? {
        guard let token = request.cookies[Self.sessionCookie]?.value else { return nil }
        let lifetime = self.lifetime
        return try await database.run { try WebSessions.find(token: token, lifetime: lifetime, on: $0) }
    }

    /// Runs `body` for a signed-in user; a page without a session goes to the sign-in form, a
    /// JSON or CSV request gets 401.
    func signedIn(_ request: Request, api: Bool = false, _ body: (WebSessions.Session) async throws -> Response) async throws -> Response {
        do {
            guard let session = try await session(request) else {
                if api { return Self.text("{\"error\":\"sign in first\"}\n", contentType: "application/json", status: .unauthorized) }
                let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return Self.redirect("/login?next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/sites"))
            }
            return try await body(session)
        } catch let error as PostgresError {
            logger.error("a page could not be answered from the database", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.problem(.serviceUnavailable, "The database did not answer; try again.", session: nil)
        } catch let refusal as DatabaseWorkers.Refusal {
            logger.warning("a page was not prepared", metadata: ["path": "\(request.uri.path)", "reason": "\(refusal)"])
            if api {
                return Self.text("{\"error\":\"\(refusal.description)\"}\n", contentType: "application/json", status: .serviceUnavailable)
            }
            return Self.problem(.serviceUnavailable, "Not shown: \(refusal.description).", session: nil)
        } catch let tooLarge as BatchSeriesReader.TooLarge {
            return Self.problem(.serviceUnavailable, "Not shown: \(tooLarge.description).", session: nil)
        }
    }

    /// A POSTed form of a signed-in user, refused with 403 unless it carries the session's CSRF token.
    func signedInForm(_ request: Request, context: WebRequestContext,
                      _ body: (WebSessions.Session, FormFields) async throws -> Response) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        let form = FormFields(String(buffer: buffer))
        return try await signedIn(request) { session in
            guard let token = form["csrf"], Self.sameToken(token, session.csrfToken) else {
                logger.warning("a form without the session's CSRF token was refused",
                               metadata: ["user": "\(session.userName)", "path": "\(request.uri.path)", "address": "\(context.remoteAddress)"])
                try await refused(session, action: "web.form", target: request.uri.path, reason: "CSRF check failed (from \(context.remoteAddress))")
                return Self.problem(.forbidden, "The form is not from this session (CSRF check failed); reload the page and try again.", session: session)
            }
            return try await body(session, form)
        }
    }

    /// A refused action (403 and the like) goes into the Control Site's audit trail.
    func refused(_ session: WebSessions.Session, action: String, target: String, reason: String) async throws {
        let user = session.userName, path = String(target.prefix(200))
        try await database.run { connection in
            try connection.transaction {
                try ControlAuditTrail.append(ControlAuditAction(user: user, action: action + ".refused", target: path, reason: reason), to: connection)
            }
        }
    }

    func sessionCookie(_ token: String, expire: Bool = false) -> Cookie {
        Cookie(name: Self.sessionCookie, value: expire ? "" : token, maxAge: expire ? 0 : nil, path: "/",
               secure: settings.secureCookies || settings.servesTLS, httpOnly: true, sameSite: .strict)
    }

    static func parameter(_ context: WebRequestContext, _ name: String) -> String {
        let raw = context.parameters.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }
}

/// Headers on every answer: no framing, no sniffing, no caching of records, no referrer, and a
/// policy that allows no script and no resource from elsewhere.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = WebRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        response.headers[.xFrameOptions] = "DENY"
        return response
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
}
