import ControlSiteQuality
import ControlSiteRecords
import Foundation

/// Recorded comparisons (what qualifies an additional site and sets the yearly check), the
/// form that records one from `compare`, and one comparison with its report and sign form.
enum ComparisonsPage {
    static func renderList(_ list: [Comparisons.Summary], choices: ComparabilityPage.Choices, session: WebSessions.Session) -> String {
        var body = HTML.table(["Comparison", "Site", "Reference", "Spec", "Phase", "Purpose", "Outcome", "Recorded (UTC)", "Signed"], list.map { c in
            [HTML.link("/comparisons/\(c.id)", c.reference), HTML.escape(c.site), HTML.escape(c.referenceSite), "<code>\(HTML.escape(HTML.short(c.spec)))</code>",
             HTML.escape(c.phase), HTML.escape(c.purpose), outcome(c.outcome), HTML.escape(c.recorded),
             c.signed.map { "\(HTML.escape($0)) by \(HTML.escape(c.signedFullName ?? ""))" } ?? HTML.badge("not signed", "warn")]
        }, cssClass: "comparisons")
        if HTML.mayDecide(session) {
            let specs = choices.specs.filter { $0.retired == nil }.map(\.fingerprint)
            body += "<h2>Record a comparison</h2>" + HTML.form(
                "/comparisons", session: session,
                HTML.select("Spec", "spec", specs) + HTML.input("Phase", "phase") + HTML.select("Reference site", "reference", choices.sites)
                    + HTML.select("Site compared", "site", choices.sites) + HTML.select("Purpose", "purpose", Comparisons.Purpose.allCases.map(\.rawValue)),
                submit: "Run compare and record")
        }
        return HTML.page(title: "Comparisons", session: session, body: body)
    }

    static func outcome(_ text: String) -> String {
        HTML.badge(text.replacingOccurrences(of: "_", with: " "), text == "comparable" ? "ok" : "bad")
    }

    static func renderDetail(_ c: Comparisons.Summary, report: String, session: WebSessions.Session) -> String {
        var body = "<dl class=\"record\">"
        for (label, value) in [
            ("Site", HTML.link("/sites/\(HTML.segment(c.site))", c.site)), ("Reference site", HTML.escape(c.referenceSite)),
            ("Spec", "<code>\(HTML.escape(c.spec))</code>"), ("Phase", HTML.escape(c.phase)), ("Purpose", HTML.escape(c.purpose)),
            ("Batches of the site", c.batches.map { HTML.link("/batches/\(HTML.segment(c.site))/\(HTML.segment($0))", $0) }.joined(separator: ", ")),
            ("Outcome", outcome(c.outcome)), ("Method", HTML.escape(c.method)), ("Recorded", "\(HTML.escape(c.recorded)) by \(HTML.escape(c.recordedBy))"),
            ("Report SHA-256", "<code>\(HTML.escape(c.reportHash))</code>"),
            ("Signed", c.signed.map { "\(HTML.escape($0)) by <b>\(HTML.escape(c.signedFullName ?? ""))</b> (\(HTML.escape(c.signedBy ?? "")))" + (c.signComment.map { ": \(HTML.escape($0))" } ?? "") } ?? "not signed"),
        ] { body += "<dt>\(HTML.escape(label))</dt><dd>\(value)</dd>" }
        body += "</dl>"
        if c.signed == nil && HTML.mayDecide(session) {
            body += "<h2>Sign</h2>" + HTML.form(
                "/comparisons/\(c.id)/sign", session: session, cssClass: "sign",
                HTML.hidden("hash", c.reportHash) + HTML.textarea("Comment", "comment") + HTML.signaturePassword(session)
                    + "<p class=\"muted\">Signing binds your name, the time and this report (SHA-256 <code>\(HTML.escape(String(c.reportHash.prefix(12))))</code>) to the outcome “\(HTML.escape(c.outcome.replacingOccurrences(of: "_", with: " ")))”.</p>",
                submit: "Sign the comparison")
        }
        body += "<h2>Report</h2><pre class=\"report\">\(HTML.escape(ChangesPage.prettyPayload(report)))</pre>"
        return HTML.page(title: "Comparison \(c.reference)", session: session, body: body)
    }
}
