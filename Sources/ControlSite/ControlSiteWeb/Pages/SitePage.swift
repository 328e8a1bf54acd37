import ControlSiteQuality
import ControlSiteRecords
import POCareContract

/// One site: its devices with their latest values, standing alarms, batches and findings.
enum SitePage {
    struct Data: Sendable {
        var overview: SiteOverview
        /// The site's POC Master File; nil when it is not registered.
        var file: SiteFile?
        var latest: [PageQueries.LatestValues]
        var alarms: [PageQueries.StandingAlarm]
        var batches: [BatchSummary]
        var integrity: IntegrityReport
        var units: [String: String]
        /// From each device's published metadata: name and unit per parameter.
        var names: [String: [String: (name: String, unit: String)]] = [:]
    }

    static func load(site: String, specs: SpecCatalogue, limits: BatchReviewPage.Limits, settings: QualitySettings,
                     on connection: PostgresConnection) throws -> Data? {
        let file = try SiteFile.load(site: site, settings: settings, on: connection)
        guard let overview = try SiteOverview.load(connection).first(where: { $0.site == site })
                ?? file.map({ _ in SiteOverview.registeredOnly(site) })
        else { return nil }
        var units: [String: String] = [:]
        for fingerprint in Set(overview.devices.compactMap(\.spec)) {
            for phase in try specs.spec(fingerprint, on: connection)?.phases ?? [] {
                for l in phase.limits where !l.unit.isEmpty { units[l.parameterId] = l.unit }
            }
        }
        let latest = try PageQueries.latestValues(
            site: site, maxBytes: limits.maxSampleBytes, maxParameters: limits.maxParameters, on: connection)
        return Data(overview: overview, file: file, latest: latest,
                    alarms: try PageQueries.standingAlarms(site: site, on: connection),
                    batches: try BatchSummary.list(connection, site: site), integrity: try IntegrityReport.load(connection, site: site),
                    units: units, names: try PageQueries.parameterNames(site: site, on: connection))
    }

    static func render(_ data: Data, settings: QualitySettings, session: WebSessions.Session) -> String {
        let o = data.overview
        var body = "<p>" + HTML.badge(o.state, o.state == "online" ? "ok" : "bad")
            + " version \(HTML.escape(o.version ?? "-")) · last record \(HTML.escape(o.lastRecordTime ?? "-")) · backlog \(HTML.escape(formatAge(o.backlogAgeSeconds)))</p>"
        body += MasterFileSection.render(data.file, site: o.site, reported: o.devices, settings: settings, session: session)
        body += "<h2>Devices</h2>"
        body += HTML.table(["Device", "Profile", "Batch", "Phase", "Spec", "Latest sample (UTC)", "Values"], o.devices.map { d in
            let latest = data.latest.first { $0.device == d.id }
            let described = data.names[d.id] ?? [:]
            let values = latest?.values.map { v in
                // Name and unit as the device's metadata gives them; the spec's unit where there is none.
                let known = described[v.parameter]
                let name = known.map { $0.name.isEmpty ? v.parameter : $0.name } ?? v.parameter
                let unit = known.map(\.unit) ?? data.units[v.parameter] ?? ""
                return "<span title=\"\(HTML.escape(v.parameter))\">\(HTML.escape(name))</span> = <b>\(HTML.escape(v.value))</b> \(HTML.escape(unit))"
                    + (v.good ? "" : " " + HTML.badge("not read well", "warn"))
            }.joined(separator: "<br>") ?? "-"
            let more = latest.map { l in
                (l.leftOut > 0 ? "<br>" + HTML.badge("\(l.leftOut) more values not shown", "warn") : "")
                    + (l.oversizedBytes.map { "<br>" + HTML.badge("sample of \($0) bytes, beyond the contract limit: not read", "bad") } ?? "")
            } ?? ""
            return [HTML.escape(d.id), HTML.escape(d.profile ?? "-"),
                    d.batch.map { HTML.link("/batches/\(HTML.segment(o.site))/\(HTML.segment($0))", $0) } ?? "-",
                    HTML.escape(d.phase ?? "-"), "<code>\(HTML.escape(HTML.short(d.spec)))</code>", HTML.escape(latest?.time ?? "-"), values + more]
        })
        body += "<h2>Standing alarms</h2>"
        body += HTML.table(["Alarm", "Priority", "Level", "State", "Since (UTC)"], data.alarms.map {
            [HTML.escape($0.alarm), HTML.escape($0.priority), HTML.escape($0.level), HTML.escape($0.state.replacingOccurrences(of: "_", with: " ")),
             HTML.escape($0.since)]
        }, cssClass: "standing-alarms")
        body += "<h2>Batches</h2>"
        body += HTML.table(["Batch", "Purpose", "Device", "Phases", "Specs", "First", "Last", "Samples", "Conforming"], data.batches.map { b in
            [HTML.link("/batches/\(HTML.segment(b.site))/\(HTML.segment(b.batch))", b.batch), BatchesPage.purpose(b.purpose), HTML.escape(b.device),
             HTML.escape(b.phases.joined(separator: ", ")), HTML.escape(b.specs.map { HTML.short($0) }.joined(separator: ", ")),
             HTML.escape(b.first), HTML.escape(b.last), String(b.samples), b.conforming ? HTML.badge("yes", "ok") : HTML.badge("NO", "bad")]
        })
        body += "<h2>Open integrity findings</h2>"
        body += IntegrityTables.findings(data.integrity.findings)
        return HTML.page(title: "Site \(o.site)", session: session, body: body)
    }
}

enum IntegrityTables {
    static func findings(_ findings: [IntegrityReport.Finding]) -> String {
        HTML.table(["Found (UTC)", "Kind", "Stream", "Records", "Detail", "Occurrences"], findings.map { f in
            [HTML.escape(f.found), HTML.badge(f.kind, "bad"), HTML.escape(f.stream.isEmpty ? "-" : f.stream),
             HTML.escape(f.seqFrom.map { "\($0)…\(f.seqTo ?? $0)" } ?? "-"), HTML.escape(f.detail), String(f.occurrences)]
        }, cssClass: "findings")
    }
}
