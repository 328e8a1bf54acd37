import ControlSiteRecords
import Foundation
import HTTPTypes
import Hummingbird

/// The comparability pages: the comparison computed on request (HTML, CSV, JSON), storing it
/// for QA's signature, the stored comparisons and QA's signature of one.
extension ControlSiteWebServer {
    func addComparabilityRoutes(_ router: Router<WebRequestContext>) {
        addComparisonRoutes(router)
        addStoredComparisonRoutes(router)
    }

    /// The comparison computed on request, as a page and as CSV or JSON.
    func addComparisonRoutes(_ router: Router<WebRequestContext>) {
        router.get("/comparability") { [self] request, _ in
            try await signedIn(request) { session in
                let fields = FormFields(request.uri.query ?? "")
                let query = ComparabilityPage.Query(fields)
                let specs = self.specs
                // Its cost grows with the batches: on the bounded page threads, within their budget.
                let (choices, loaded) = try await pages.run { c in
                    (try ComparabilityPage.choices(for: fields["spec"].flatMap { $0.isEmpty || $0.count > 80 ? nil : $0 }, specs: specs, on: c),
                     try query.map { try ComparabilityPage.load($0, specs: specs, on: c) })
                }
                return Self.html(ComparabilityPage.render(query: query, choices: choices, loaded: loaded, session: session))
            }
        }

        for format in ["csv", "json", "trajectories.csv"] {
            router.get(format == "trajectories.csv" ? "/comparability-trajectories.csv" : "/comparability.\(format)") { [self] request, _ in
                try await signedIn(request, api: true) { _ in
                    guard let query = ComparabilityPage.Query(FormFields(request.uri.query ?? "")) else {
                        return Self.text("spec, phase and reference are required\n", contentType: "text/plain", status: .badRequest)
                    }
                    let specs = self.specs
                    switch try await pages.run({ try ComparabilityPage.load(query, specs: specs, on: $0) }) {
                    case .refused(let reason): return Self.text(reason + "\n", contentType: "text/plain", status: .badRequest)
                    case .report(let report):
                        switch format {
                        case "csv": return Self.text(report.csv(), contentType: "text/csv; charset=utf-8", filename: "comparability-\(query.phase).csv")
                        case "trajectories.csv":
                            return Self.text(report.trajectoriesCSV(), contentType: "text/csv; charset=utf-8",
                                             filename: "comparability-\(query.phase)-trajectories.csv")
                        default: return Self.text(String(decoding: try report.canonicalJSON(pretty: true), as: UTF8.self), contentType: "application/json")
                        }
                    }
                }
            }
        }
    }

    /// Stored comparisons: storing one for QA's signature, the list, one, its report and signing it.
    func addStoredComparisonRoutes(_ router: Router<WebRequestContext>) {
        router.post("/comparisons") { [self] request, context in
            try await signedInForm(request, context: context) { session, form in
                guard session.role.maySign else {
                    return Self.problem(.forbidden, "Your role (\(session.role.rawValue)) does not store comparisons.", session: session)
                }
                guard let query = ComparabilityPage.Query(form) else {
                    return Self.problem(.badRequest, "spec, phase and reference are required", session: session)
                }
                let specs = self.specs
                let stored = try await database.run { c -> Result<Int64, ComparisonReport.Refusal> in
                    switch try ComparabilityPage.load(query, specs: specs, on: c) {
                    case .refused(let reason): return .failure(.init(description: reason))
                    case .report(let report): return .success(try StoredComparisons.store(report, by: session.userName, on: c))
                    }
                }
                switch stored {
                case .success(let id): return Self.redirect("/comparisons/\(id)")
                case .failure(let refusal): return Self.problem(.badRequest, refusal.description, session: session)
                }
            }
        }

        router.get("/comparisons") { [self] request, _ in
            try await signedIn(request) { session in
                Self.html(ComparisonsPage.render(try await database.run { [quality] in try ComparisonsPage.load(settings: quality, on: $0) }, session: session))
            }
        }

        router.get("/comparisons/:id") { [self] request, context in
            try await signedIn(request) { session in
                guard let id = Int64(Self.parameter(context, "id")),
                      let (entry, report) = try await database.run({ try StoredComparisons.find(id, on: $0) })
                else { return Self.problem(.notFound, "No such stored comparison.", session: session) }
                return Self.html(ComparisonsPage.render(entry, report: report, session: session))
            }
        }

        router.get("/comparisons/:id/report.json") { [self] request, context in
            try await signedIn(request, api: true) { _ in
                guard let id = Int64(Self.parameter(context, "id")),
                      let (_, report) = try await database.run({ try StoredComparisons.find(id, on: $0) })
                else { return Self.text("{\"error\":\"no such comparison\"}\n", contentType: "application/json", status: .notFound) }
                return Self.text(String(decoding: try report.canonicalJSON(pretty: true), as: UTF8.self), contentType: "application/json")
            }
        }

        router.post("/comparisons/:id/sign") { [self] request, context in
            try await signedInForm(request, context: context) { session, form in
                guard let id = Int64(Self.parameter(context, "id")) else { return Self.problem(.notFound, "No such stored comparison.", session: session) }
                guard let meaning = form["meaning"].flatMap(ComparisonSignatures.Meaning.init(rawValue:)) else {
                    return Self.problem(.badRequest, "meaning: approved or rejected", session: session)
                }
                let password = form["password"] ?? "", comment = form["comment"] ?? "", shown = form["hash"] ?? ""
                let throttle = signatureThrottle(context)
                do {
                    let signature = try await database.run {
                        try ComparisonSignatures.sign(report: id, shownHash: shown, userName: session.userName, password: password,
                                                      meaning: meaning, comment: comment, throttle: throttle, on: $0)
                    }
                    logger.notice("comparison signed", metadata: [
                        "comparison": "\(id)", "user": "\(session.userName)", "meaning": "\(meaning.rawValue)", "report": "\(signature.reportHash)",
                    ])
                    return Self.redirect("/comparisons/\(id)")
                } catch let refusal as QualityRefusal {
                    return Self.refusal(refusal, session: session)
                }
            }
        }
    }
}
