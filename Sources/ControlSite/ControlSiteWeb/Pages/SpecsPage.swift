import ControlSiteRecords
import POCareContract
import POCareCore

/// The released register, each spec's limits per phase, and where each runs now or ran.
enum SpecsPage {
    struct Data: Sendable {
        var entries: [SpecRegister.Entry]
        var specs: [String: IPCSpec]
        var batches: [BatchSummary]
        var sites: [SiteOverview]
    }

    static func load(specs catalogue: SpecCatalogue, on connection: PostgresConnection) throws -> Data {
        let entries = try SpecRegister.list(on: connection)
        var specs: [String: IPCSpec] = [:]
        for e in entries { specs[e.fingerprint] = try catalogue.spec(e.fingerprint, on: connection) }
        return Data(entries: entries, specs: specs, batches: try BatchSummary.list(connection), sites: try SiteOverview.load(connection))
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        var body = HTML.table(["Fingerprint", "Status", "Document", "Version", "Released (UTC)", "By", "Reason"], data.entries.map { e in
            ["<a href=\"#\(HTML.escape(HTML.short(e.fingerprint)))\"><code>\(HTML.escape(HTML.short(e.fingerprint)))</code></a>",
             e.retired == nil ? HTML.badge("released", "ok") : HTML.badge("retired \(e.retired ?? "")", "warn"),
             HTML.escape(e.document), HTML.escape(e.version), HTML.escape(e.released), HTML.escape(e.releasedBy),
             HTML.escape(e.retireReason ?? e.releaseReason)]
        })
        for e in data.entries {
            body += "<h2 id=\"\(HTML.escape(HTML.short(e.fingerprint)))\">\(HTML.escape(e.document)) \(HTML.escape(e.version))</h2>"
            body += "<p><code>\(HTML.escape(e.fingerprint))</code> · \(HTML.escape(e.product)) · approved by \(HTML.escape(e.approvedBy)) on \(HTML.escape(e.approvalDate))</p>"
            let running = data.sites.flatMap { s in s.devices.filter { $0.spec == e.fingerprint }.map { "\(s.site)/\($0.id)" } }
            let ran = Set(data.batches.filter { $0.specs.contains(e.fingerprint) }.map(\.site)).sorted()
            body += "<p>Runs now on: \(HTML.escape(running.isEmpty ? "none" : running.joined(separator: ", "))) · batches at: \(HTML.escape(ran.isEmpty ? "none" : ran.joined(separator: ", ")))</p>"
            guard let spec = data.specs[e.fingerprint] else {
                body += "<p class=\"notice\">The stored spec cannot be read against the device profiles here.</p>"
                continue
            }
            for phase in spec.phases {
                body += "<h3>\(HTML.escape(phase.phase))</h3>"
                body += HTML.table(["Parameter", "Unit", "Target", "Alert low", "Alert high", "Action low", "Action high", "Priority"], phase.limits.map { l in
                    [HTML.escape(l.parameterId), HTML.escape(l.unit), n(l.target), n(l.alertLow), n(l.alertHigh), n(l.actionLow), n(l.actionHigh),
                     HTML.escape(l.priority.rawValue)]
                })
            }
        }
        return HTML.page(title: "Specs", session: session, body: body)
    }

    static func n(_ x: Double?) -> String { x.map { SVGTextNumber($0) } ?? "-" }
}
