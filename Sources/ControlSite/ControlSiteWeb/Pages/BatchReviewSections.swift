import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareCore
import SVGPlot

/// The sections of the batch page, each a table a reviewer reads without decoding anything.
enum BatchReviewSections {
    /// Review by exception: the first thing on the page.
    static func exceptions(_ review: BatchReview) -> String {
        var s = "<section class=\"exceptions\"><h2 id=\"exceptions\">Review by exception</h2>"
        if review.clean {
            s += "<p class=\"no-exceptions\">\(HTML.badge("No exceptions", "ok")) every check ran and found nothing: "
                + review.checks.map { HTML.escape($0.title) }.joined(separator: ", ") + ".</p>"
        } else {
            s += "<p>\(HTML.badge("\(review.exceptionCount) exceptions", "bad")) in \(review.checks.filter { !$0.clean }.count) of \(review.checks.count) checks.</p>"
        }
        s += "<table class=\"exception-checks\"><thead><tr><th>Check</th><th>Found</th></tr></thead><tbody>"
        for check in review.checks {
            let found = check.items.isEmpty ? HTML.badge("none", "ok") : "<ul>" + check.items.map(item).joined() + "</ul>"
            s += "<tr data-check=\"\(HTML.escape(check.name))\" class=\"\(check.clean ? "clean" : check.ran ? "exception" : "not-checked")\">"
                + "<td>\(HTML.escape(check.title))\(check.ran ? "" : " " + HTML.badge("not checked", "warn"))</td><td>\(found)</td></tr>"
        }
        return s + "</tbody></table></section>"
    }

    static func item(_ item: BatchReview.Item) -> String {
        let text: String = item.link.map { HTML.link($0, item.text) } ?? HTML.escape(item.text)
        return "<li>" + text + "</li>"
    }

    static func signatures(_ signatures: [Disposition.Signature]) -> String {
        HTML.table(["Signed (UTC)", "Signer", "Role", "Meaning", "Comment", "Binding"], signatures.map { s in
            var binding = s.valid ? HTML.badge("valid", "ok") : "<span class=\"invalid\">INVALID: the record changed after signing</span>"
            binding += " <code>\(HTML.escape(String(s.recordHash.prefix(12))))</code>"
            if let withdrawn = s.withdrawn {
                binding += " <span class=\"withdrawn\">WITHDRAWN \(HTML.escape(withdrawn)) by \(HTML.escape(s.withdrawnFullName ?? "")): \(HTML.escape(s.withdrawReason ?? ""))</span>"
            }
            return [HTML.escape(s.signed), HTML.escape(s.fullName) + " <span class=\"muted\">(\(HTML.escape(s.userName)))</span>", HTML.escape(s.role),
                    "<b class=\"meaning\">\(HTML.escape(s.meaning))</b>", HTML.escape(s.comment), binding]
        }, cssClass: "signatures")
    }

    /// The sign form with the meanings the user may sign now, and why the others are refused;
    /// the QP's withdrawal of a standing certification.
    static func forms(_ data: BatchReviewPage.Data, session: WebSessions.Session) -> String {
        let review = data.review, r = review.record
        let base = "/batches/\(HTML.segment(r.site))/\(HTML.segment(r.batch))"
        guard session.role.maySign else {
            return "<p class=\"muted\">Your role (\(HTML.escape(session.role.rawValue))) does not sign batch records.</p>"
        }
        var s = ""
        let open = data.refusals.filter { $0.value.isEmpty }.map(\.key).sorted { $0.rawValue > $1.rawValue }
        for (meaning, reasons) in data.refusals.sorted(by: { $0.key.rawValue > $1.key.rawValue }) where !reasons.isEmpty {
            s += "<div class=\"notice gate\" data-meaning=\"\(meaning.rawValue)\"><b>The \(HTML.escape(meaning.act)) is not possible now:</b><ul>"
                + reasons.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul></div>"
        }
        if !open.isEmpty {
            s += HTML.form(base + "/sign", session: session, cssClass: "sign",
                           HTML.hidden("record_hash", review.recordHash) + HTML.select("Meaning", "meaning", open.map(\.rawValue))
                               + HTML.textarea("Comment", "comment") + HTML.signaturePassword(session)
                               + "<p class=\"muted\">Signing binds your name, the time and the meaning to this record as shown (SHA-256 <code>\(HTML.escape(String(review.recordHash.prefix(12))))</code>); if it changed since you opened the page, the signature is refused.</p>",
                           submit: "Sign")
        }
        if session.role == .qp, review.status.signatures.contains(where: { $0.stands && $0.meaning == "certified" }) {
            s += "<h3>Withdraw the certification</h3>" + HTML.form(
                base + "/withdraw", session: session, cssClass: "sign withdraw",
                HTML.textarea("Why", "reason", required: true) + HTML.signaturePassword(session), submit: "Withdraw the certification")
        }
        return s
    }

    static func identity(_ review: BatchReview, specs: [String: IPCSpec]) -> String {
        let r = review.record
        var s = "<h2>Identity</h2>" + HTML.table(["Site", "Batch", "Purpose", "Devices", "First record", "Last record", "Samples"], [[
            HTML.escape(r.site), HTML.escape(r.batch), BatchesPage.purpose(r.purpose), HTML.escape(Set(r.phases.map(\.device)).sorted().joined(separator: ", ")),
            HTML.escape(r.phases.map(\.first).min() ?? "-"), HTML.escape(r.phases.map(\.last).max() ?? "-"), String(r.phases.reduce(0) { $0 + $1.samples }),
        ]])
        s += "<h2 id=\"equipment\">Equipment and phases</h2>" + HTML.table(["Device", "Phase", "Spec", "First", "Last", "Samples"], r.phases.map {
            [HTML.escape($0.device), HTML.escape($0.phase.isEmpty ? "-" : $0.phase), "<code>\(HTML.escape(HTML.short($0.spec)))</code>",
             HTML.escape($0.first), HTML.escape($0.last), String($0.samples)]
        })
        s += "<h2 id=\"spec\">Spec</h2>" + HTML.table(["Fingerprint", "Document", "Version", "Approved by", "State"], review.specs.map { st in
            let spec = specs[st.fingerprint]
            return ["<code>\(HTML.escape(HTML.short(st.fingerprint)))</code>", HTML.escape(spec?.identity.documentId ?? st.document ?? "-"),
                    HTML.escape(spec?.identity.version ?? st.version ?? "-"), HTML.escape(spec?.identity.approvedBy ?? "-"),
                    HTML.badge(st.state, st.state == "released" ? "ok" : st.ok ? "warn" : "bad")
                        + (st.releaseChange.map { " " + HTML.link("/changes/\($0)", "CC-\($0)") } ?? "")]
        }, cssClass: "specs")
        return s
    }

    static func excursions(_ review: BatchReview) -> String {
        "<h2 id=\"excursions\">Excursions</h2><p class=\"muted\">As the site's batch record defines them (before it arrives, as the same rule finds them in the samples held here).</p>"
            + HTML.table(["Device", "Alarm", "Phase", "Start (UTC)", "End (UTC)", "Duration", "Worst value", "Limit crossed", "Area outside"],
                         review.excursions.map { x in
                [HTML.escape(x.device), HTML.escape(x.alarm), HTML.escape(x.phase), HTML.escape(x.start), HTML.escape(x.end),
                 "\(BatchReviewSections.number(x.durationS)) s" + (x.openAtBatchEnd ? " (open at the batch's end)" : ""),
                 HTML.escape(number(x.worstValue)), HTML.escape("\(x.worstLevel) \(x.side)"), HTML.escape(number(x.areaOutside))]
            }, cssClass: "excursions")
    }

    static func unmonitored(_ review: BatchReview) -> String {
        "<h2 id=\"unmonitored\">Unmonitored time</h2>" + HTML.table(["Device", "From (UTC)", "To (UTC)", "Duration", "Cause"], review.unmonitored.map { u in
            [HTML.escape(u.device), HTML.escape(u.from), HTML.escape(u.to), "\(number(u.durationS)) s", HTML.escape(u.cause)]
        }, cssClass: "unmonitored")
    }

    /// Every event of the record in one table, in time order, in words.
    static func timeline(_ review: BatchReview) -> String {
        "<h2 id=\"timeline\">Timeline</h2>" + HTML.table(["Time (UTC)", "Device", "Event", "Phase", "What"], review.record.events.map { e in
            [HTML.escape(e.time), HTML.escape(String(e.stream.split(separator: "/").first ?? "")), HTML.escape(e.kind.replacingOccurrences(of: "_", with: " ")),
             HTML.escape(e.phase ?? "-"), HTML.escape(EventText.describe(kind: e.kind, body: e.detail))]
        }, cssClass: "timeline")
    }

    static func siteRecord(_ review: BatchReview) -> String {
        var s = "<h2 id=\"site-record\">The site's batch record</h2>"
        if !review.status.awaitingRecords.isEmpty {
            s += "<p class=\"muted\">Not received for \(HTML.escape(review.status.awaitingRecords.joined(separator: ", "))): the batch runs, or the record of its end has not arrived yet.</p>"
        }
        for check in review.record.siteRecords {
            s += "<p>\(HTML.escape(check.device)): published on \(HTML.escape(check.stream)) #\(check.seq), received \(HTML.escape(check.received)) · "
                + (check.differences.isEmpty ? HTML.badge("agrees with the samples and events held here", "ok")
                   : HTML.badge("differs from the data held here", "bad")) + "</p>"
            if !check.differences.isEmpty { s += "<ul>" + check.differences.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>" }
        }
        return s
    }

    /// The clock evidence as a table in words, per device.
    static func clock(_ review: BatchReview) -> String {
        var s = "<h2 id=\"clock\">Clock evidence</h2>"
        let clocks = review.record.siteRecords.compactMap { c in c.record.map { (c.device, $0.clock) } }
        if clocks.isEmpty { s += "<p class=\"muted\">In the site's batch record, which has not arrived.</p>" }
        for (device, clock) in clocks {
            let state = switch clock.synchronisedThroughout {
            case true?: HTML.badge("synchronised throughout", "ok")
            case false?: HTML.badge("NOT synchronised throughout", "bad")
            case nil: HTML.badge("nothing recorded", "warn")
            }
            s += "<p>\(HTML.escape(device)): \(state)</p>"
            s += HTML.table(["Time (UTC)", "Evidence", "What"], clock.events.map {
                [HTML.escape($0.time), HTML.escape($0.kind.replacingOccurrences(of: "_", with: " ")), HTML.escape(EventText.describe(kind: $0.kind, body: $0.detail))]
            }, cssClass: "clock")
        }
        return s
    }

    static func number(_ x: Double) -> String { x.isFinite ? SVGText.number(x) : "-" }
}
