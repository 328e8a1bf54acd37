import ControlSiteQuality
import ControlSiteRecords

/// Every batch the sites' records show, newest last, each linking to its review; filtered by
/// disposition state, with the count of each.
enum BatchesPage {
    static func render(_ batches: [BatchSummary], states: [String: String], filter: String?, session: WebSessions.Session) -> String {
        var counts: [String: Int] = [:]
        for key in Set(batches.map { "\($0.site)/\($0.batch)" }) { counts[states[key] ?? "running", default: 0] += 1 }
        let filters = ([nil] + BatchStates.all).map { s -> String in
            let label = (s.map(BatchStates.words) ?? "all") + " (\(s.map { counts[$0] ?? 0 } ?? Set(batches.map { "\($0.site)/\($0.batch)" }).count))"
            return s == filter ? "<b>\(HTML.escape(label))</b>" : HTML.link("/batches" + (s.map { "?state=\($0)" } ?? ""), label)
        }.joined(separator: " · ")
        let shown = batches.filter { filter == nil || states["\($0.site)/\($0.batch)"] == filter }
        let body = "<p class=\"state-filter\">\(filters)</p>" + HTML.table(
            ["Site", "Batch", "Purpose", "Device", "Phases", "Specs", "First (UTC)", "Last (UTC)", "Samples", "Events", "Conforming", "Disposition"],
            shown.map { b in
                let state = states["\(b.site)/\(b.batch)"] ?? "running"
                return [HTML.link("/sites/\(HTML.segment(b.site))", b.site), HTML.link("/batches/\(HTML.segment(b.site))/\(HTML.segment(b.batch))", b.batch),
                        purpose(b.purpose), HTML.escape(b.device), HTML.escape(b.phases.joined(separator: ", ")),
                        HTML.escape(b.specs.map { HTML.short($0) }.joined(separator: ", ")), HTML.escape(b.first), HTML.escape(b.last), String(b.samples),
                        String(b.events), b.conforming ? HTML.badge("yes", "ok") : HTML.badge("NO", "bad"), stateBadge(state)]
            }, cssClass: "batches")
        return HTML.page(title: "Batches", session: session, body: body)
    }

    /// A disposition state as a badge (list states, or the batch's own state with `invalid`).
    static func stateBadge(_ state: String, invalid: Bool = false) -> String {
        if invalid || state == "invalid" { return "<span class=\"invalid state\">\(HTML.escape(BatchStates.words("invalid")))</span>" }
        let words = Disposition.State(rawValue: state)?.words ?? BatchStates.words(state)
        let kind = switch state {
        case "certified": "ok"
        case "rejected": "bad"
        case "running": "muted"
        default: "warn"
        }
        return "<span class=\"state\">" + HTML.badge(words, kind) + "</span>"
    }

    /// What the batch was for: a verification or comparability batch stands out.
    static func purpose(_ purpose: String?) -> String {
        guard let purpose else { return "<span class=\"muted\">site not registered</span>" }
        return purpose == "production" ? HTML.escape(purpose) : HTML.badge(purpose + " batch", purpose == "suspended site" ? "bad" : "warn")
    }
}
