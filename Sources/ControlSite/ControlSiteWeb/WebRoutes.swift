import ControlSiteRecords
import Hashing
import POCareContract
import Foundation
import Hummingbird

/// The pages and what each answers; GET reads, POST changes (and carries a CSRF token).
extension ControlSiteWebServer {
    func addRoutes(_ router: Router<WebRequestContext>) {
        router.get("/") { _, _ in Self.redirect("/sites") }
        addSignInRoutes(router)
        addQualityRoutes(router)
        addOverviewRoutes(router)
        addBatchRoutes(router)
        addBatchSignatureRoutes(router)
        addComparabilityRoutes(router)
    }

    /// The network at a glance: sites, one site, released specs, the audit trail.
    func addOverviewRoutes(_ router: Router<WebRequestContext>) {
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
}
