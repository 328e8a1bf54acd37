import ControlSiteQuality
import ControlSiteRecords
import POCareContract

/// Every site at a glance: online or not, how fresh its records are, what runs, what stands.
enum SitesPage {
    struct Data: Sendable {
        var sites: [SiteOverview]
        var alarms: [PageQueries.StandingAlarm]
        var nonconformances: [Nonconformance]
        /// By site: the POC Master File's columns (role, qualification, open deviations).
        var quality: [String: SiteQualityColumns.Row]
        var proposedChanges: Int
    }

    static func load(settings: QualitySettings, on connection: PostgresConnection) throws -> Data {
        var sites = try SiteOverview.load(connection)
        let quality = try SiteQualityColumns.load(settings: settings, on: connection)
        for site in quality.keys.sorted() where !sites.contains(where: { $0.site == site }) { sites.append(.registeredOnly(site)) }
        return Data(sites: sites, alarms: try PageQueries.standingAlarms(site: nil, on: connection),
                    nonconformances: try Nonconformance.load(connection), quality: quality,
                    proposedChanges: Int(try connection.execute("SELECT count(*) AS proposed FROM changes WHERE state = 'proposed'")
                        .int(0, "proposed") ?? 0))
    }

    static func render(_ data: Data, session: WebSessions.Session, refresh: Bool) -> String {
        let rows = data.sites.map { s -> [String] in
            let state = HTML.badge(s.state, s.state == "online" ? "ok" : s.state == "offline" ? "bad" : "warn")
            let running = s.devices.filter { $0.batch != nil }.map { d in
                "\(HTML.escape(d.id)): " + HTML.link("/batches/\(HTML.segment(s.site))/\(HTML.segment(d.batch ?? ""))", d.batch ?? "")
                    + " · \(HTML.escape(d.phase ?? "-")) · <code>\(HTML.escape(HTML.short(d.spec)))</code>"
            }.joined(separator: "<br>")
            let alarms = data.alarms.filter { $0.site == s.site && $0.category == "standing" }
            var byPriority = Dictionary(grouping: alarms, by: \.priority).sorted { rank($0.key) < rank($1.key) }
                .map { HTML.badge("\($0.value.count) \($0.key.isEmpty ? "alarm" : $0.key)", $0.key == "critical" || $0.key == "high" ? "bad" : "warn") }
                .joined(separator: " ")
            for (category, words) in [("shelved", "shelved"), ("out_of_service", "out of service")] {
                let n = data.alarms.filter { $0.site == s.site && $0.category == category }.count
                if n > 0 { byPriority += (byPriority.isEmpty ? "" : " ") + "<span class=\"muted alarms-\(category)\">\(n) \(words)</span>" }
            }
            let ncs = data.nonconformances.filter { $0.site == s.site }.count
            let q = data.quality[s.site]
            let qualification = q.map { q in
                HTML.escape(q.role) + "<br>" + HTML.badge(q.qualification, q.qualificationState == "qualified" ? (q.check == "overdue" ? "bad" : q.check == "due_soon" ? "warn" : "ok")
                                                           : q.qualificationState == "suspended" ? "bad" : "warn")
            } ?? HTML.badge("not in the POC Master File", "bad")
            let deviations = (q?.openDeviations ?? 0) == 0 ? HTML.badge("0", "ok")
                : "<a href=\"/deviations?state=open&amp;site=\(HTML.segment(s.site))\">" + HTML.badge("\(q?.openDeviations ?? 0) open", "bad") + "</a>"
            return [
                HTML.link("/sites/\(HTML.segment(s.site))", s.site), state, qualification, HTML.escape(s.lastRecordTime ?? "-"),
                HTML.escape(formatAge(s.backlogAgeSeconds)),
                s.clock.map { c in HTML.badge(c.summary, c.synchronised == true && c.lastStep == nil ? "ok" : c.synchronised == false ? "bad" : "warn") }
                    ?? "<span class=\"muted\">no evidence yet</span>",
                running.isEmpty ? "<span class=\"muted\">none</span>" : running,
                byPriority.isEmpty ? HTML.badge("none", "ok") : byPriority,
                s.openFindings == 0 ? HTML.badge("0", "ok") : HTML.badge("\(s.openFindings) open", "bad"),
                ncs == 0 ? HTML.badge("0", "ok") : HTML.badge("\(ncs)", "bad"), deviations,
            ]
        }
        let changes = data.proposedChanges == 0 ? "" : " · <a href=\"/changes?state=proposed\">\(data.proposedChanges) changes await approval</a>"
        let body = """
            <p>\(data.sites.count) sites. <a href="/sites?refresh=30">refresh every 30 s</a> · <a href="/sites.json">JSON</a>\(changes)</p>
            \(HTML.table(["Site", "State", "Role and qualification", "Last record (UTC)", "Backlog", "Clock", "Running batches (device: batch · phase · spec)",
                          "Standing alarms", "Integrity findings", "Nonconformances", "Open deviations"], rows, cssClass: "sites"))
            """
        return HTML.page(title: "Sites", session: session, refreshSeconds: refresh ? 30 : nil, body: body)
    }

    static func rank(_ priority: String) -> Int {
        ["critical": 0, "high": 1, "medium": 2, "low": 3][priority] ?? 4
    }
}

func formatAge(_ seconds: Double?) -> String {
    guard let seconds, seconds.isFinite else { return "-" }
    let s = Int(max(0, min(seconds, 1e12)).rounded())
    if s < 120 { return "\(s) s" }
    if s < 7200 { return "\(s / 60) min" }
    if s < 172_800 { return "\(s / 3600) h" }
    return "\(s / 86400) d"
}
