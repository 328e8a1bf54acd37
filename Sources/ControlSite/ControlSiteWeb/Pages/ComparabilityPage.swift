import ComparabilityMethod
import ControlSiteRecords
import POCareContract
import Foundation
import POCareCore
import SVGPlot

/// The comparison of sites for a spec, equipment model and phase, computed when asked: the
/// phases offered are those the batches recorded; the report (`ComparisonReportView`), its
/// inputs as CSV and JSON, and a button that stores it for QA's signature.
enum ComparabilityPage {
    struct Query: Sendable, Equatable {
        var spec: String
        var profile: String?
        var phase: String
        var reference: String
        var kind: ComparisonRequest.Kind = .qualification
        var includeNonconforming = false
        /// Width of a trajectory bucket, seconds.
        var bucket = MethodSettings().bucketSeconds
        /// By time since phase start even where the spec names a progress variable for the phase.
        var alignByTime = false
        /// Per-parameter settings as `compare --setting` takes them, separated by spaces
        /// (`ph.floor=band:0.1 temperature.tiers=2,3`); checked when the comparison is loaded.
        var settings = ""

        var queryString: String {
            "spec=\(HTML.segment(spec))&phase=\(HTML.segment(phase))&reference=\(HTML.segment(reference))"
                + (profile.map { "&profile=\(HTML.segment($0))" } ?? "") + "&kind=\(kind.rawValue)"
                + (includeNonconforming ? "&information=1" : "") + "&bucket=\(SVGText.number(bucket))"
                + (alignByTime ? "&align=time" : "") + (settings.isEmpty ? "" : "&settings=\(HTML.segment(settings))")
        }

        init(spec: String, profile: String? = nil, phase: String, reference: String) {
            self.spec = spec
            self.profile = profile
            self.phase = phase
            self.reference = reference
        }

        /// From the page's query string; nil unless spec, phase and reference are there and short.
        init?(_ q: FormFields) {
            guard let spec = q["spec"], !spec.isEmpty, let phase = q["phase"], !phase.isEmpty, let reference = q["reference"], !reference.isEmpty,
                  spec.count <= 80, phase.count <= 200, reference.count <= 200, (q["profile"] ?? "").count <= 200
            else { return nil }
            self.init(spec: spec, profile: q["profile"].flatMap { $0.isEmpty ? nil : $0 }, phase: phase, reference: reference)
            kind = q["kind"].flatMap(ComparisonRequest.Kind.init(rawValue:)) ?? .qualification
            includeNonconforming = q["information"] == "1"
            alignByTime = q["align"] == "time"
            settings = (q["settings"] ?? "").trimmingCharacters(in: .whitespaces)
            guard settings.count <= 2_000 else { return nil }
            if let text = q["bucket"], !text.isEmpty {
                guard let b = Double(text), b.isFinite, b >= 1, b <= 86_400 else { return nil }
                bucket = b
            }
        }
    }

    struct Choices: Sendable {
        var specs: [SpecRegister.Entry]
        var sites: [String]
        /// Phases the batches of the chosen spec recorded (of every spec when none is chosen).
        var phases: [String]
        var profiles: [String]
    }

    static func choices(for spec: String?, specs catalogue: SpecCatalogue, on connection: PostgresConnection) throws -> Choices {
        let parsed = try spec.flatMap { try catalogue.spec($0, on: connection) }
        let phases = try connection.execute(
            "SELECT DISTINCT phase FROM batch_runs WHERE phase <> '' AND ($1::text IS NULL OR spec = $1) ORDER BY phase LIMIT 200",
            [parsed?.fingerprint])
        return Choices(specs: try SpecRegister.list(on: connection), sites: try SiteOverview.load(connection).map(\.site),
                       phases: (0..<phases.rowCount).compactMap { phases.string($0, "phase") }, profiles: parsed?.identity.profiles ?? [])
    }

    enum Loaded: Sendable {
        case report(ComparisonReport)
        case refused(String)
    }

    static func load(_ query: Query, specs: SpecCatalogue, on connection: PostgresConnection) throws -> Loaded {
        guard let spec = try specs.spec(query.spec, on: connection) else {
            return .refused("no spec \(query.spec) in the register (or it cannot be read against the device profiles)")
        }
        var request = ComparisonRequest(spec: spec, phase: query.phase, reference: query.reference)
        request.profile = query.profile
        request.kind = query.kind
        request.includeNonconforming = query.includeNonconforming
        request.settings.bucketSeconds = query.bucket
        request.alignByTime = query.alignByTime
        do {
            request.overrides = try ParameterOverride.parse(query.settings.split(whereSeparator: \.isWhitespace).map(String.init))
        } catch {
            return .refused(error.description)
        }
        request.profiles = specs.profiles
        do {
            return .report(try ComparisonReport.load(connection, request: request) { site, batch in
                try BatchRecordDigest.current(site: site, batch: batch, on: connection)
            })
        } catch let refusal as ComparisonReport.Refusal {
            return .refused(refusal.description)
        } catch let refusal as QualityRefusal {
            return .refused(refusal.message)
        }
    }

    static func render(query: Query?, choices: Choices, loaded: Loaded?, session: WebSessions.Session) -> String {
        func options(_ values: [String], selected: String?, any: String? = nil) -> String {
            (any.map { "<option value=\"\">\(HTML.escape($0))</option>" } ?? "")
                + values.map { "<option\(selected == $0 ? " selected" : "")>\(HTML.escape($0))</option>" }.joined()
        }
        let specOptions = choices.specs.map { e in
            "<option value=\"\(HTML.escape(e.fingerprint))\"\(query?.spec == e.fingerprint ? " selected" : "")>"
                + "\(HTML.escape(e.document)) \(HTML.escape(e.version)) (\(HTML.escape(HTML.short(e.fingerprint))))\(e.retired == nil ? "" : " retired")</option>"
        }.joined()
        var body = """
            <form method="get" action="/comparability">
            <label>Spec <select name="spec">\(specOptions)</select></label>
            <label>Equipment model <select name="profile">\(options(choices.profiles, selected: query?.profile, any: "the one the records name"))</select></label>
            <label>Phase <select name="phase">\(options(choices.phases, selected: query?.phase))</select></label>
            <label>Reference site <select name="reference">\(options(choices.sites, selected: query?.reference))</select></label>
            <label>Kind <select name="kind"><option value="qualification">qualification</option>\
            <option value="yearly"\(query?.kind == .yearly ? " selected" : "")>yearly check (paired)</option></select></label>
            <label><input type="checkbox" name="information" value="1"\(query?.includeNonconforming == true ? " checked" : "")> \
            nonconforming batches for information</label>
            <label>Trajectory bucket <input name="bucket" size="5" value="\(HTML.escape(SVGText.number(query?.bucket ?? MethodSettings().bucketSeconds)))"> s</label>
            <label><input type="checkbox" name="align" value="time"\(query?.alignByTime == true ? " checked" : "")> \
            trajectories by time, even where the spec names a progress variable</label>
            <label>Parameter settings <input name="settings" size="40" value="\(HTML.escape(query?.settings ?? ""))" \
            placeholder="ph.floor=band:0.1 temperature.tiers=2,3"></label>
            <button type="submit">Compare</button></form>
            <p><a href="/comparisons">Stored comparisons and their signatures</a></p>
            """
        switch loaded {
        case nil: break
        case .refused(let reason)?:
            body += "<p class=\"notice\">\(HTML.escape(reason))</p>"
        case .report(let report)?:
            guard let q = query else { break }
            body += "<p>\(report.batches.count) batches · <a href=\"/comparability.csv?\(q.queryString)\">CSV (inputs)</a> · "
                + "<a href=\"/comparability-trajectories.csv?\(q.queryString)\">CSV (trajectories)</a> · "
                + "<a href=\"/comparability.json?\(q.queryString)\">JSON (inputs, settings and results)</a></p>"
            if session.role.maySign {
                body += """
                    <form method="post" action="/comparisons" class="inline">
                    <input type="hidden" name="csrf" value="\(HTML.escape(session.csrfToken))">
                    \(["spec": q.spec, "profile": q.profile ?? "", "phase": q.phase, "reference": q.reference, "kind": q.kind.rawValue,
                       "information": q.includeNonconforming ? "1" : "", "bucket": SVGText.number(q.bucket), "align": q.alignByTime ? "time" : "",
                       "settings": q.settings].sorted { $0.key < $1.key }.map {
                        "<input type=\"hidden\" name=\"\($0.key)\" value=\"\(HTML.escape($0.value))\">" }.joined())
                    <button type="submit">Store this comparison for QA's signature</button></form>
                    """
            }
            body += ComparisonReportView.render(report)
        }
        return HTML.page(title: "Comparability", session: session, body: body)
    }
}
