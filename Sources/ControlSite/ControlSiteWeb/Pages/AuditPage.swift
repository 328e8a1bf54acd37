import ControlSiteRecords
import POCareContract
import Foundation

/// The Control Site's audit trail, newest first, with the result of walking its chain.
enum AuditPage {
    static func render(_ entries: [ControlAuditTrail.Entry], session: WebSessions.Session) -> String {
        let broken = ControlAuditTrail.firstBroken(entries)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var body = broken.map { "<p class=\"notice\">Chain broken at entry \($0.seq): \(HTML.escape($0.reason))</p>" }
            ?? "<p>\(HTML.badge("chain intact", "ok")) \(entries.count) entries</p>"
        body += HTML.table(["Seq", "Time (UTC)", "User", "Action", "Target", "Reason", "New value"], entries.reversed().map { e in
            [String(e.seq), HTML.escape(f.string(from: Date(timeIntervalSince1970: Double(e.timeNanoseconds) / 1e9))), HTML.escape(e.action.user),
             HTML.escape(e.action.action), HTML.escape(e.action.target), HTML.escape(e.action.reason ?? "-"), HTML.escape(e.action.newValue ?? "-")]
        }, cssClass: "audit")
        return HTML.page(title: "Audit trail", session: session, body: body)
    }
}
