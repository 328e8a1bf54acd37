import ControlSiteRecords
import POCareContract
import Foundation
import POCareCore
import SVGPlot

/// For a spec and phase, each site's batch means beside the reference site's, with the limit
/// bands and the quality range; the table and flags of `pocare-control compare`; CSV and JSON.
enum ComparabilityPage {
    struct Query: Sendable, Equatable {
        var spec: String
        var phase: String
        var reference: String

        var queryString: String {
            "spec=\(HTML.segment(spec))&phase=\(HTML.segment(phase))&reference=\(HTML.segment(reference))"
        }
    }

    struct Choices: Sendable {
        var specs: [SpecRegister.Entry]
        var sites: [String]
    }

    static func choices(on connection: PostgresConnection) throws -> Choices {
        Choices(specs: try SpecRegister.list(on: connection), sites: try SiteOverview.load(connection).map(\.site))
    }

    enum Loaded: Sendable {
        case report(ComparisonReport, IPCSpec)
        case refused(String)
    }

    static func load(_ query: Query, specs: SpecCatalogue, on connection: PostgresConnection) throws -> Loaded {
        guard let spec = try specs.spec(query.spec, on: connection) else {
            return .refused("no spec \(query.spec) in the register (or it cannot be read against the device profiles)")
        }
        do {
            return .report(try ComparisonReport.load(connection, spec: spec, phase: query.phase, reference: query.reference, since: nil), spec)
        } catch let refusal as SpecRegister.Refusal {
            return .refused(refusal.description)
        }
    }

    static func render(query: Query?, choices: Choices, loaded: Loaded?, session: WebSessions.Session) -> String {
        let specOptions = choices.specs.map { e in
            "<option value=\"\(HTML.escape(e.fingerprint))\"\(query?.spec == e.fingerprint ? " selected" : "")>"
                + "\(HTML.escape(e.document)) \(HTML.escape(e.version)) (\(HTML.escape(HTML.short(e.fingerprint))))\(e.retired == nil ? "" : " retired")</option>"
        }.joined()
        let siteOptions = choices.sites.map { s in
            "<option\(query?.reference == s ? " selected" : "")>\(HTML.escape(s))</option>"
        }.joined()
        var body = """
            <form method="get" action="/comparability">
            <label>Spec <select name="spec">\(specOptions)</select></label>
            <label>Phase <input name="phase" value="\(HTML.escape(query?.phase ?? ""))" required></label>
            <label>Reference site <select name="reference">\(siteOptions)</select></label>
            <button type="submit">Compare</button></form>
            """
        switch loaded {
        case nil: break
        case .refused(let reason)?:
            body += "<p class=\"notice\">\(HTML.escape(reason))</p>"
        case .report(let report, let spec)?:
            guard let q = query else { break }
            body += "<p>\(report.batches.count) batches · <a href=\"/comparability.csv?\(q.queryString)\">CSV</a> · "
                + "<a href=\"/comparability.json?\(q.queryString)\">JSON</a></p>"
            body += "<div class=\"plots\">"
            let phaseLimits = spec.phase(report.phase)
            for parameter in (phaseLimits?.limits.map(\.parameterId) ?? []) where report.sites.contains(where: { $0.parameter == parameter }) {
                let assessments = report.sites.filter { $0.parameter == parameter }
                let groups = assessments.map { a in
                    BoxPlot.Group(label: a.site, values: report.batches.filter { $0.site == a.site }
                        .compactMap { $0.parameters.first { $0.parameter == parameter }?.mean },
                                  isReference: a.isReference, flagged: a.flagged)
                }
                let l = phaseLimits?.limits(for: parameter)
                let plot = BoxPlot(parameter: parameter, unit: l?.unit ?? "", groups: groups,
                                   limits: l.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) },
                                   qualityRange: assessments.first?.qualityRange.map { ($0.low, $0.high) })
                body += plot.svg()
                body += HTML.table(["Site", "Batches", "Mean", "SD", "Inside QR", "TOST diff [90% CI]", "Verdict"], assessments.map { s in
                    [HTML.escape(s.site), String(s.batches), SVGTextNumber(s.mean ?? .nan), SVGTextNumber(s.standardDeviation ?? .nan),
                     s.insideShare.map { "\(Int(($0 * 100).rounded()))%" } ?? "-",
                     HTML.escape(s.equivalence.map { "\(SVGTextNumber($0.difference)) [\(SVGTextNumber($0.lower)), \(SVGTextNumber($0.upper))]" } ?? "-"),
                     (s.isReference ? HTML.badge("reference", "ok") : s.flagged ? HTML.badge("FLAGGED", "bad")
                        : s.tooFewBatches ? HTML.badge("too few batches", "warn") : HTML.badge("comparable", "ok"))
                        + " " + HTML.escape(s.reasons.joined(separator: "; "))]
                }, cssClass: "comparison")
            }
            body += "</div>"
        }
        return HTML.page(title: "Comparability", session: session, body: body)
    }
}
