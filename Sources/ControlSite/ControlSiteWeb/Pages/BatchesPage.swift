import ControlSiteRecords
import POCareContract

/// Every batch the sites' records show, newest last, each linking to its review.
enum BatchesPage {
    static func render(_ batches: [BatchSummary], signatures: [String: String], session: WebSessions.Session) -> String {
        let body = HTML.table(["Site", "Batch", "Purpose", "Device", "Phases", "Specs", "First (UTC)", "Last (UTC)", "Samples", "Events", "Conforming", "Review"],
                              batches.map { b in
            [HTML.link("/sites/\(HTML.segment(b.site))", b.site), HTML.link("/batches/\(HTML.segment(b.site))/\(HTML.segment(b.batch))", b.batch),
             purpose(b.purpose),
             HTML.escape(b.device), HTML.escape(b.phases.joined(separator: ", ")), HTML.escape(b.specs.map { HTML.short($0) }.joined(separator: ", ")),
             HTML.escape(b.first), HTML.escape(b.last), String(b.samples), String(b.events),
             b.conforming ? HTML.badge("yes", "ok") : HTML.badge("NO", "bad"), HTML.escape(signatures["\(b.site)/\(b.batch)"] ?? "not signed")]
        })
        return HTML.page(title: "Batches", session: session, body: body)
    }

    /// What the batch was for: a verification or comparability batch stands out.
    static func purpose(_ purpose: String?) -> String {
        guard let purpose else { return "<span class=\"muted\">site not registered</span>" }
        return purpose == "production" ? HTML.escape(purpose) : HTML.badge(purpose + " batch", purpose == "suspended site" ? "bad" : "warn")
    }

    /// The latest signature's meaning per batch, for the list.
    static func latestSignatures(on connection: PostgresConnection) throws -> [String: String] {
        let r = try connection.execute("""
            SELECT DISTINCT ON (site, batch) site || '/' || batch, meaning || ' by ' || full_name
            FROM batch_signatures ORDER BY site, batch, signed DESC, id DESC
            """)
        var out: [String: String] = [:]
        for i in 0..<r.rowCount { if let k = r.string(i, 0) { out[k] = r.string(i, 1) } }
        return out
    }
}
