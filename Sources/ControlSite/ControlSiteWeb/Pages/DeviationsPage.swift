import ControlSiteQuality
import ControlSiteRecords
import Foundation

/// Deviations: the list with its filters and a form to open one by hand; one deviation with
/// its evidence, batches, investigation, history, and the forms that move it on.
enum DeviationsPage {
    static func badge(_ d: Deviations.Record) -> String {
        HTML.badge(d.stateWords, d.state == "closed" ? "ok" : d.state == "open" ? "bad" : "warn")
    }

    static func table(_ list: [Deviations.Record]) -> String {
        HTML.table(["Deviation", "State", "Class", "Site", "Batches", "Opened (UTC)", "Title"], list.map { d in
            [HTML.link("/deviations/\(d.id)", d.reference), badge(d), HTML.escape(d.classification ?? "-"),
             HTML.link("/sites/\(HTML.segment(d.site))", d.site),
             d.batches.map { HTML.link("/batches/\(HTML.segment(d.site))/\(HTML.segment($0))", $0) }.joined(separator: ", "),
             HTML.escape(d.opened), HTML.escape(d.title)]
        }, cssClass: "deviations")
    }

    static func renderList(_ list: [Deviations.Record], state: String?, site: String?, session: WebSessions.Session) -> String {
        let filters = ([nil] + ["open", "under_investigation", "closed"]).map { s in
            let words = s?.replacingOccurrences(of: "_", with: " ") ?? "all"
            return s == state ? "<b>\(HTML.escape(words))</b>"
                : HTML.link("/deviations?" + [s.map { "state=\($0)" }, site.map { "site=\(HTML.segment($0))" }].compactMap { $0 }.joined(separator: "&"), words)
        }.joined(separator: " · ")
        var body = "<p>\(filters)\(site.map { " · site \(HTML.escape($0))" } ?? "")</p>" + table(list)
        if HTML.mayDecide(session) {
            body += "<h2>Open a deviation</h2>" + HTML.form(
                "/deviations", session: session,
                HTML.input("Site", "site", value: site ?? "") + HTML.input("Batches (comma-separated)", "batches", required: false)
                    + HTML.input("Title", "title") + HTML.textarea("What happened", "description", rows: 3, required: true),
                submit: "Open")
        }
        return HTML.page(title: "Deviations", session: session, body: body)
    }

    static func renderDetail(_ d: Deviations.Record, history: [ControlAuditTrail.Entry], session: WebSessions.Session) -> String {
        var body = "<dl class=\"record\">"
        for (label, value) in [
            ("State", badge(d)), ("Classification", HTML.escape(d.classification ?? "not classified")),
            ("Site", HTML.link("/sites/\(HTML.segment(d.site))", d.site)),
            ("Batches", d.batches.isEmpty ? "-" : d.batches.map { HTML.link("/batches/\(HTML.segment(d.site))/\(HTML.segment($0))", $0) }.joined(separator: ", ")),
            ("Opened", "\(HTML.escape(d.opened)) by \(HTML.escape(d.openedBy))\(d.source == "manual" ? "" : " (automatically: \(HTML.escape(d.source.replacingOccurrences(of: "_", with: " "))))")"),
            ("Title", HTML.escape(d.title)), ("Description", HTML.escape(d.description)),
            ("Investigation", HTML.escape(d.investigation.isEmpty ? "-" : d.investigation)), ("Root cause", HTML.escape(d.rootCause.isEmpty ? "-" : d.rootCause)),
            ("CAPA", HTML.escape(d.capa.isEmpty ? "-" : d.capa)), ("Version", "<span class=\"version\">\(d.version)</span>"),
            ("Closed", d.closed.map { "\(HTML.escape($0)) by <b>\(HTML.escape(d.closedFullName ?? ""))</b> (\(HTML.escape(d.closedBy ?? ""))): \(HTML.escape(d.closeComment ?? "")) · content SHA-256 <code>\(HTML.escape(String((d.closedHash ?? "").prefix(12))))</code>" } ?? "-"),
        ] { body += "<dt>\(HTML.escape(label))</dt><dd>\(value)</dd>" }
        body += "</dl><h2>Evidence</h2>" + HTML.table(["Kind", "Time (UTC)", "Detail"], d.evidence.map { e in
            [HTML.escape(e.kind), HTML.escape(e.time ?? "-"), e.link.map { HTML.link($0, e.detail) } ?? HTML.escape(e.detail)]
        }, cssClass: "evidence")
        if d.isOpen && HTML.mayDecide(session) { body += forms(d, session: session) }
        body += "<h2>History</h2>" + HTML.table(["Time (UTC)", "User", "Action", "Old value", "New value", "Reason"], history.map { e in
            [HTML.escape(AuditPage.time(e.timeNanoseconds)), HTML.escape(e.action.user), HTML.escape(e.action.action), HTML.escape(e.action.oldValue ?? "-"),
             HTML.escape(e.action.newValue ?? "-"), HTML.escape(e.action.reason ?? "-")]
        }, cssClass: "history")
        return HTML.page(title: "Deviation \(d.reference)", session: session, body: body)
    }

    static func forms(_ d: Deviations.Record, session: WebSessions.Session) -> String {
        var body = "<h2>Classify</h2>" + HTML.form(
            "/deviations/\(d.id)/classify", session: session,
            HTML.select("Classification", "classification", Deviations.Classification.allCases.map(\.rawValue), selected: d.classification),
            submit: d.state == "open" ? "Classify and investigate" : "Reclassify")
        body += "<h2>Investigation</h2>" + HTML.form(
            "/deviations/\(d.id)/update", session: session,
            HTML.textarea("Investigation", "investigation", value: d.investigation, rows: 4) + HTML.textarea("Root cause", "root_cause", value: d.rootCause)
                + HTML.input("CAPA reference", "capa", value: d.capa, required: false),
            submit: "Save")
        guard d.state == "under_investigation" else {
            return body + "<p class=\"muted\">A deviation is closed once it is classified and under investigation.</p>"
        }
        body += "<h2>Close</h2>" + HTML.form(
            "/deviations/\(d.id)/close", session: session, cssClass: "sign close-deviation",
            HTML.hidden("version", String(d.version)) + HTML.textarea("Closing comment", "comment", rows: 2, required: true)
                + HTML.signaturePassword(session)
                + "<p class=\"muted\">Closing is your e-signature: your name, the time and the meaning “closed” bound to this deviation as shown (version \(d.version)).</p>",
            submit: "Sign and close")
        return body
    }
}
