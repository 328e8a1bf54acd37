import ControlSiteRecords
import POCareContract
import Foundation

/// The audit trail a reviewer can use: the Control Site's entries and every site's, filtered
/// by site, user, action and time range, newest first, with every chain walked.
enum AuditPage {
    struct Data: Sendable {
        var filter: AuditReview.Filter
        var entries: [AuditReview.Entry]
        var chains: [AuditReview.Chain]
        var sites: [String]
    }

    static func load(_ filter: AuditReview.Filter, on connection: PostgresConnection) throws -> Data {
        let sites = try connection.execute("SELECT DISTINCT site FROM audit_entries UNION SELECT site FROM sites ORDER BY 1")
        return Data(filter: filter, entries: try AuditReview.entries(filter, on: connection), chains: try AuditReview.chains(on: connection),
                    sites: sites.map { $0.string("site") }.compactMap { $0 })
    }

    /// The filter from the query string; a bad time is left out rather than guessed.
    static func filter(_ query: FormFields) -> AuditReview.Filter {
        func text(_ key: String) -> String? { query[key].flatMap { $0.isEmpty || $0.count > 200 ? nil : $0 } }
        func time(_ key: String) -> Double? { text(key).flatMap { BatchReviewPage.isoSeconds($0) ?? BatchReviewPage.isoSeconds($0 + "T00:00:00Z") } }
        return AuditReview.Filter(site: text("site"), user: text("user"), action: text("action"), since: time("since"), until: time("until"))
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        let f = data.filter
        var body = "<h2>Chains</h2>" + HTML.table(["Trail", "Store epoch", "Entries", "Chain"], data.chains.map { c in
            [HTML.escape(c.source == "control" ? "Control Site" : c.source), HTML.escape(c.epoch.isEmpty ? "-" : c.epoch), String(c.entries),
             c.intact ? HTML.badge("intact", "ok") : "<span class=\"invalid\">broken at entry \(c.firstBroken ?? 0): \(HTML.escape(c.reason ?? ""))</span>"]
        }, cssClass: "chains")
        let siteOptions = ["<option value=\"\">all</option>", "<option value=\"control\"\(f.site == "control" ? " selected" : "")>Control Site</option>"]
            + data.sites.map { "<option\(f.site == $0 ? " selected" : "")>\(HTML.escape($0))</option>" }
        body += """
            <form method="get" action="/audit" class="qms filter">
            <label>Site <select name="site">\(siteOptions.joined())</select></label>
            <label>User <input name="user" value="\(HTML.escape(f.user ?? ""))"></label>
            <label>Action (or its beginning, ending in a dot) <input name="action" value="\(HTML.escape(f.action ?? ""))"></label>
            <label>From (UTC) <input name="since" value="\(HTML.escape(f.since.map(time) ?? ""))" placeholder="2026-12-01"></label>
            <label>To (UTC) <input name="until" value="\(HTML.escape(f.until.map(time) ?? ""))"></label>
            <button type="submit">Filter</button></form>
            """
        body += "<p>\(data.entries.count == f.limit ? "the newest \(f.limit) entries" : "\(data.entries.count) entries")</p>"
        body += HTML.table(["Time (UTC)", "Where", "Seq", "User", "Action", "Target", "Reason", "Old value", "New value"], data.entries.map { e in
            [HTML.escape(e.time), HTML.escape(e.source == "control" ? "Control Site" : e.source), String(e.seq), HTML.escape(e.user),
             [".refused", ".failed", ".throttled"].contains { e.action.hasSuffix($0) } ? HTML.badge(e.action, "bad") : HTML.escape(e.action),
             HTML.escape(e.target),
             HTML.escape(e.reason ?? "-"), HTML.escape(e.oldValue ?? "-"), HTML.escape(e.newValue ?? "-")]
        }, cssClass: "audit")
        return HTML.page(title: "Audit trail", session: session, body: body)
    }

    static func time(_ seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func time(_ nanoseconds: Int64) -> String { time(Double(nanoseconds) / 1e9) }
}
