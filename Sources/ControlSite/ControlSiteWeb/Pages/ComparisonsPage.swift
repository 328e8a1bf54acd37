import ControlSiteQuality
import ControlSiteRecords
import Foundation

/// Stored comparisons: the list with verdicts and signatures and each site's yearly check due
/// date, and one stored report as it was stored, with its hash, signatures and QA's sign form.
enum ComparisonsPage {
    struct List: Sendable {
        var entries: [StoredComparisons.Entry]
        var checks: [Qualification.Status]
        var intervalDays: Int
    }

    static func load(settings: QualitySettings, on connection: PostgresConnection) throws -> List {
        List(entries: try StoredComparisons.list(on: connection), checks: try Qualification.yearlyChecks(settings: settings, on: connection),
             intervalDays: settings.comparabilityIntervalDays)
    }

    static func signatures(_ entry: StoredComparisons.Entry) -> String {
        entry.signatures.isEmpty ? "-" : entry.signatures.map { s in
            HTML.escape("\(s.meaning) by \(s.fullName) \(s.signed)")
                + (s.valid ? "" : " <span class=\"invalid\">INVALID: the report changed after signing</span>")
        }.joined(separator: "<br>")
    }

    static func render(_ list: List, session: WebSessions.Session) -> String {
        var body = HTML.table(["Id", "Stored", "By", "Kind", "Equipment model", "Phase", "Reference", "Verdicts", "Report hash", "Signatures"],
                              list.entries.map { e in
            [HTML.link("/comparisons/\(e.id)", String(e.id)), HTML.escape(e.created), HTML.escape(e.createdBy), HTML.escape(e.kind),
             HTML.escape(e.profile), HTML.escape(e.phase), HTML.escape(e.reference),
             e.verdicts.sorted { $0.key < $1.key }.map { HTML.escape("\($0.key): \($0.value)") }.joined(separator: "<br>"),
             (e.intact ? "" : "<span class=\"invalid\">CHANGED</span> ") + "<code>\(HTML.escape(String(e.reportHash.prefix(12))))</code>",
             signatures(e)]
        }, cssClass: "stored-comparisons")
        body += "<h2>Yearly comparability check</h2><p class=\"muted\">Each qualified site's check is due \(list.intervalDays) days "
            + "(<code>qms.comparability_interval</code>) after the later of its qualification and the newest comparison QA approved that "
            + "found it comparable: the date the sites page and the POC Master File show.</p>"
        body += HTML.table(["Site", "Qualified since", "Last comparable (approved)", "Due", "Check"], list.checks.map {
            [HTML.escape($0.site), HTML.escape($0.since), HTML.escape($0.lastComparable ?? "-"), HTML.escape($0.checkDue ?? "-"),
             HTML.escape($0.check ?? "-")]
        }, cssClass: "yearly-due")
        return HTML.page(title: "Stored comparisons", session: session, body: body)
    }

    static func render(_ entry: StoredComparisons.Entry, report: ComparisonReport, session: WebSessions.Session) -> String {
        var body = "<p>Comparison \(entry.id), stored \(HTML.escape(entry.created)) by \(HTML.escape(entry.createdBy)); report SHA-256 "
            + "<code>\(HTML.escape(entry.reportHash))</code>"
            + (entry.intact ? "" : " <span class=\"invalid\">the stored report no longer hashes to this</span>")
            + " · <a href=\"/comparisons/\(entry.id)/report.json\">JSON as stored</a></p>"
        body += "<h2>Signatures</h2>" + signatures(entry)
        if session.role == .qa {
            body += """
                <form method="post" action="/comparisons/\(entry.id)/sign" class="sign">
                <input type="hidden" name="csrf" value="\(HTML.escape(session.csrfToken))">
                <input type="hidden" name="hash" value="\(HTML.escape(entry.reportHash))">
                <p>Signing as <b>\(HTML.escape(session.fullName))</b> (QA): you sign this report, SHA-256 \
                <code>\(HTML.escape(String(entry.reportHash.prefix(12))))</code>, as shown below.</p>
                <label>Meaning <select name="meaning"><option value="approved">approved</option><option value="rejected">rejected</option></select></label>
                <label>Comment <input name="comment" maxlength="4000"></label>
                <label>Password <input type="password" name="password" required autocomplete="current-password"></label>
                <button type="submit" name="sign" value="1">Sign</button></form>
                """
        } else {
            body += "<p class=\"muted\">Only QA signs a comparison report.</p>"
        }
        body += ComparisonReportView.render(report)
        return HTML.page(title: "Comparison \(entry.id)", session: session, body: body)
    }
}
