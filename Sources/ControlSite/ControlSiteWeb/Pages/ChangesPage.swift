import ControlSiteQuality
import ControlSiteRecords
import Foundation

/// Change control: every change with its state, and one change with its content, its
/// decision and the form a second QA person approves or rejects it with.
enum ChangesPage {
    static func renderList(_ changes: [ChangeControl.Record], state: String?, session: WebSessions.Session) -> String {
        let filters = ([nil] + ["proposed", "approved", "rejected", "withdrawn"]).map { s in
            s == state ? "<b>\(HTML.escape(s ?? "all"))</b>" : HTML.link("/changes" + (s.map { "?state=\($0)" } ?? ""), s ?? "all")
        }.joined(separator: " · ")
        var body = "<p>\(filters)</p>"
        body += HTML.table(["Change", "State", "Kind", "What", "Requested (UTC)", "By", "Decided by", "Effective (UTC)"], changes.map { c in
            [HTML.link("/changes/\(c.id)", c.reference), badge(c.state), HTML.escape(c.kind), HTML.escape(c.summary), HTML.escape(c.requested),
             HTML.escape(c.requestedFullName), HTML.escape(c.decidedFullName ?? "-"), HTML.escape(c.effective ?? "-")]
        }, cssClass: "changes")
        if HTML.mayDecide(session) {
            body += "<h2>Request the release of a spec</h2><p class=\"muted\">Paste the approved spec (YAML); it is checked against the device profiles and released once a second QA person approves.</p>"
            body += HTML.form("/changes", session: session, HTML.hidden("kind", "spec.release") + HTML.textarea("Spec (YAML)", "spec_text", rows: 8, required: true)
                              + HTML.input("Reason", "reason"), submit: "Request the release")
        }
        return HTML.page(title: "Changes", session: session, body: body)
    }

    static func badge(_ state: String) -> String {
        HTML.badge(state, state == "approved" ? "ok" : state == "proposed" ? "warn" : "muted")
    }

    static func renderDetail(_ c: ChangeControl.Record, session: WebSessions.Session) -> String {
        var body = "<dl class=\"record\">"
        for (label, value) in [
            ("State", badge(c.state)), ("Kind", HTML.escape(c.kind)), ("Site", c.site.map { HTML.link("/sites/\(HTML.segment($0))", $0) } ?? "all sites"),
            ("What changes", HTML.escape(c.summary)), ("Why", HTML.escape(c.reason)),
            ("Requested", "\(HTML.escape(c.requested)) by \(HTML.escape(c.requestedFullName)) (\(HTML.escape(c.requestedBy)))"),
            ("Decided", c.decided.map { "\(HTML.escape($0)) by \(HTML.escape(c.decidedFullName ?? "")) (\(HTML.escape(c.decidedBy ?? "")))" } ?? "-"),
            ("Comment", HTML.escape(c.decisionComment ?? "-")), ("Effective", HTML.escape(c.effective ?? "-")),
            ("Content SHA-256", "<code class=\"content-hash\">\(HTML.escape(c.contentHash))</code>"),
        ] { body += "<dt>\(HTML.escape(label))</dt><dd>\(value)</dd>" }
        body += "</dl><h2>Content</h2><pre class=\"payload\">\(HTML.escape(prettyPayload(c.payload)))</pre>"
        guard c.state == "proposed" else { return HTML.page(title: "Change \(c.reference)", session: session, body: body) }
        if c.requestedBy == session.userName {
            body += "<p class=\"notice\">You requested this change: a second person with a QA role approves or rejects it.</p>"
            body += HTML.form("/changes/\(c.id)/withdraw", session: session, HTML.input("Why withdraw it", "reason"), submit: "Withdraw")
        } else if HTML.mayDecide(session) {
            body += "<h2>Decide</h2>" + HTML.form(
                "/changes/\(c.id)/decide", session: session, cssClass: "sign",
                HTML.hidden("hash", c.contentHash) + HTML.select("Decision", "decision", ["approve", "reject"])
                    + HTML.textarea("Comment", "comment") + HTML.signaturePassword(session)
                    + "<p class=\"muted\">Signing binds your name, the time and the decision to this content (SHA-256 <code>\(HTML.escape(String(c.contentHash.prefix(12))))</code>); an approved change takes effect at once.</p>",
                submit: "Sign the decision")
        } else {
            body += "<p class=\"muted\">Your role (\(HTML.escape(session.role.rawValue))) does not decide changes.</p>"
        }
        return HTML.page(title: "Change \(c.reference)", session: session, body: body)
    }

    /// The stored content, indented for reading; a spec's text shown as it was posted, below.
    static func prettyPayload(_ payload: String) -> String {
        // Shown indented when it is a JSON object, as stored otherwise: the page shows, the record decides.
        guard var object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] else { return payload }
        let spec = object.removeValue(forKey: "spec_text") as? String
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else { return payload }
        return String(decoding: data, as: UTF8.self) + (spec.map { "\n\nspec_text:\n" + $0 } ?? "")
    }
}
