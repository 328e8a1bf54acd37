import ControlSiteRecords
import POCareContract
import Foundation
import POCareCore
import SVGPlot

/// The batch record as a QP reviews it: per device and parameter a trend of the whole batch
/// with the bands of the phase in force, the record's tables, its signatures and the form to sign.
enum BatchReviewPage {
    struct Data: Sendable {
        var record: BatchRecord
        var specs: [String: IPCSpec]
        var signatures: [BatchSignatures.Signature]
        var recordHash: String
        var limits: Limits
        /// Each chain segment of the batch and the site signature that covers it, if any.
        var segments: [ChainSegment] = []
    }

    /// What the page reads at most (`WebSettings.page…`).
    struct Limits: Sendable {
        var maxParameters: Int
        var maxSamples: Int
        var maxSampleBytes: Int
        var maxRows: Int
        var plotColumns = 900

        init(_ settings: WebSettings) {
            maxParameters = settings.pageMaxParameters
            maxSamples = settings.pageMaxSamples
            maxSampleBytes = settings.pageMaxSampleBytes
            maxRows = settings.pageMaxRows
        }

        var reader: BatchSeriesReader.Limits {
            var r = BatchSeriesReader.Limits()
            r.maxParameters = maxParameters
            r.maxSamples = maxSamples
            r.maxSampleBytes = maxSampleBytes
            r.plotColumns = plotColumns
            return r
        }
    }

    static func load(
        site: String, batch: String, specs catalogue: SpecCatalogue, limits: Limits, budget: DatabaseWorkers.Budget,
        on connection: PostgresConnection
    ) throws -> Data? {
        guard let record = try BatchRecord.load(
            connection, site: site, batch: batch, specs: { try catalogue.ran($0, on: connection) }, eventLimit: limits.maxRows,
            limits: limits.reader, checkpoint: budget.check),
            let hash = try BatchRecordDigest.hash(site: site, batch: batch, on: connection)
        else { return nil }
        try budget.check()
        var specs: [String: IPCSpec] = [:]
        for fingerprint in Set(record.phases.compactMap(\.spec)) {
            if let spec = try catalogue.spec(fingerprint, on: connection) { specs[fingerprint] = spec }
        }
        return Data(record: record, specs: specs,
                    signatures: try BatchSignatures.list(site: site, batch: batch, currentHash: hash, on: connection), recordHash: hash,
                    limits: limits, segments: try ChainCoverage.segments(site: site, batch: batch, on: connection))
    }

    /// The record's JSON: the oversight command's record, with the signatures and the record's hash now.
    struct JSONRecord: Encodable {
        var record: BatchRecord
        var recordHash: String
        var signatures: [BatchSignatures.Signature]
    }

    /// Per device, per parameter: its trend over the batch and its statistics beside it.
    static func plots(_ data: Data) -> [(device: String, parameter: String, svg: String)] {
        var out: [(String, String, String)] = []
        for device in data.record.statistics {
            let summary = device.summary
            let specByPhase = Dictionary(data.record.phases.filter { $0.device == device.device }.map { ($0.phase, $0.spec) },
                                         uniquingKeysWith: { a, _ in a })
            // Phases as the samples ran them, from the statistics' phase times in order.
            let runs = phaseRuns(data.record.phases.filter { $0.device == device.device }, start: summary.start, end: summary.end)
            for series in device.series {
                let parameter = series.parameter
                var unit = series.unit
                let phases = runs.map { run -> TrendPlot.Phase in
                    let limits = specByPhase[run.name].flatMap { $0 }.flatMap { data.specs[$0] }?.phase(run.name)?.limits(for: parameter)
                    if let l = limits, !l.unit.isEmpty, unit.isEmpty { unit = l.unit }
                    return TrendPlot.Phase(
                        name: run.name.isEmpty ? "(no phase)" : run.name, start: run.start, end: run.end,
                        limits: limits.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) })
                }
                let observations = zip(series.times, series.values).map { TrendPlot.Observation(time: $0, value: $1) }
                var plot = TrendPlot(parameter: parameter, unit: unit, observations: observations, phases: phases,
                                     markers: markers(data, device: device.device, parameter: parameter))
                plot.givenExcursions = summary.excursions.filter { $0.parameter == parameter }.map { .init(start: $0.start, end: $0.end) }
                plot.givenUnmonitored = (summary.parameterUnmonitored[parameter] ?? []).map { .init(start: $0.from, end: $0.to) }
                out.append((device.device, parameter, plot.svg()))
            }
        }
        return out
    }

    /// The phase runs of a device, from its batch_runs rows (first and last sample of each phase).
    static func phaseRuns(_ rows: [BatchRecord.Phase], start: Double, end: Double) -> [(name: String, start: Double, end: Double)] {
        let sorted = rows.compactMap { row -> (String, Double, Double)? in
            guard let first = isoSeconds(row.first), let last = isoSeconds(row.last) else { return nil }
            return (row.phase, first, last)
        }.sorted { $0.1 < $1.1 }
        var runs: [(name: String, start: Double, end: Double)] = []
        for (i, row) in sorted.enumerated() {
            let next = i + 1 < sorted.count ? sorted[i + 1].1 : max(end, row.2)
            runs.append((row.0, i == 0 ? min(start, row.1) : row.1, next))
        }
        return runs
    }

    static func markers(_ data: Data, device: String, parameter: String) -> [TrendPlot.Marker] {
        data.record.events.filter { $0.stream.hasPrefix(device + "/") }.compactMap { e -> TrendPlot.Marker? in
            let body = (try? JSONSerialization.jsonObject(with: Foundation.Data(e.detail.utf8))) as? [String: Any] ?? [:]
            guard let alarm = body["alarm"] as? String, alarm.split(separator: "/").dropFirst().first.map(String.init) == parameter,
                  let time = isoSeconds(e.time)
            else { return nil }
            var title = "\(e.kind) \(e.time)"
            if let user = body["user"] as? String { title += " by \(user)" }
            if let reason = body["reason"] as? String { title += ": \(reason)" }
            if let value = body["value"] as? Double { title += " (value \(SVGText.number(value)))" }
            return TrendPlot.Marker(kind: e.kind, time: time, title: title)
        }
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        let r = data.record
        var body = "<p><a href=\"/batches/\(HTML.segment(r.site))/\(HTML.segment(r.batch))/record.json\">record as JSON</a> · "
            + "record SHA-256 <code>\(HTML.escape(data.recordHash))</code></p>"
        body += "<h2>Review status</h2>" + signaturesTable(data.signatures) + signForm(data, session: session)
        body += "<h2>Identity</h2>" + HTML.table(["Site", "Batch", "Devices", "First record", "Last record", "Samples"], [[
            HTML.escape(r.site), HTML.escape(r.batch), HTML.escape(Set(r.phases.map(\.device)).sorted().joined(separator: ", ")),
            HTML.escape(r.phases.map(\.first).min() ?? "-"), HTML.escape(r.phases.map(\.last).max() ?? "-"),
            String(r.phases.reduce(0) { $0 + $1.samples }),
        ]])
        body += "<h2>Equipment and phases</h2>" + HTML.table(["Device", "Phase", "Spec", "First", "Last", "Samples"], r.phases.map {
            [HTML.escape($0.device), HTML.escape($0.phase.isEmpty ? "-" : $0.phase), "<code>\(HTML.escape(HTML.short($0.spec)))</code>",
             HTML.escape($0.first), HTML.escape($0.last), String($0.samples)]
        })
        body += "<h2>Spec</h2>" + HTML.table(["Fingerprint", "Document", "Version", "Approved by", "Released"], Set(r.phases.compactMap(\.spec)).sorted().map { fp in
            let spec = data.specs[fp]
            return ["<code>\(HTML.escape(HTML.short(fp)))</code>", HTML.escape(spec?.identity.documentId ?? "-"),
                    HTML.escape(spec?.identity.version ?? "-"), HTML.escape(spec?.identity.approvedBy ?? "-"),
                    spec == nil ? HTML.badge("not in the register", "bad") : HTML.badge("released", "ok")]
        })
        body += "<h2>Trends and statistics</h2><p class=\"muted\">Bands: green within alert limits, amber between alert and action limits, red beyond action limits; "
            + "red shading: excursion; hatched: unmonitored; dashed vertical: phase boundary; markers: alarm raised ▲, acknowledged ◆, cleared □ (hover for who and why). "
            + "Beside each plot, per phase, the parameter's statistics by the one rule of the site's record: each value holds until the next sample, "
            + "at most the hold limit, from the batch's start to its end; an excursion is the time a value was outside its limits, whatever the alarm's delays.</p>"
        body += BatchStatisticsTables.trends(data, plots: plots(data))
        body += "<h2>Excursions</h2>" + BatchStatisticsTables.excursions(r.statistics)
        func events(_ kinds: Set<String>) -> [[String]] {
            r.events.filter { kinds.contains($0.kind) }.map { e in
                let b = (try? JSONSerialization.jsonObject(with: Foundation.Data(e.detail.utf8))) as? [String: Any] ?? [:]
                // The alarm's own record of an episode carries its alarm and duration inside `excursion`.
                let x = b["excursion"] as? [String: Any] ?? [:]
                let value = (b["value"] as? Double) ?? (x["worst_value"] as? Double)
                let kind = e.kind == "excursion" ? "alarm episode (delays included)" : e.kind
                return [HTML.escape(e.time), HTML.escape(kind), HTML.escape(b["alarm"] as? String ?? x["alarm"] as? String ?? e.stream),
                        HTML.escape((b["user"] as? String) ?? "-"),
                        HTML.escape((b["reason"] as? String) ?? (x["duration_s"] as? Double).map { "alarm stood for \(SVGText.number($0)) s" } ?? "-"),
                        HTML.escape(value.map { SVGText.number($0) } ?? "-")]
            }
        }
        let headers = ["Time (UTC)", "Kind", "Alarm", "By", "Why", "Value"]
        body += "<h2>Alarms</h2>" + HTML.table(
            headers, events(["raised", "escalated", "deescalated", "acknowledged", "cleared", "reset", "open_at_batch_end", "excursion"]))
        if r.eventsLeftOut > 0 {
            body += "<p class=\"notice\">\(r.eventsLeftOut) more events of this batch are not listed here (the page lists \(data.limits.maxRows)); "
                + "pocare-control batch lists every one.</p>"
        }
        body += "<h2>Shelves</h2>" + HTML.table(headers, events(["shelved", "unshelved"]))
        body += "<h2>Out of service</h2>" + HTML.table(headers, events(["out_of_service", "in_service", "suppressed", "unsuppressed"]))
        body += "<h2>The site's batch record</h2>"
        if r.siteRecords.isEmpty {
            body += "<p class=\"muted\">Not received: the batch runs, or the record of its end has not arrived yet.</p>"
        }
        for check in r.siteRecords {
            body += "<p>\(HTML.escape(check.device)): published on \(HTML.escape(check.stream)) #\(check.seq), received \(HTML.escape(check.received)) · "
                + (check.differences.isEmpty ? HTML.badge("agrees with the samples and events held here", "ok")
                   : HTML.badge("differs from the data held here", "bad")) + "</p>"
            if !check.differences.isEmpty {
                body += "<ul>" + check.differences.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>"
            }
            for note in check.notes { body += "<p class=\"muted\">\(HTML.escape(note))</p>" }
        }
        body += "<h2>Clock evidence</h2>"
        let clocks = r.siteRecords.compactMap { c in c.record.map { (c.device, $0.clock) } }
        if clocks.isEmpty {
            body += "<p class=\"muted\">In the site's batch record, which has not arrived.</p>"
        }
        for (device, clock) in clocks {
            let state = switch clock.synchronisedThroughout {
            case true?: HTML.badge("synchronised throughout", "ok")
            case false?: HTML.badge("NOT synchronised throughout", "bad")
            case nil: HTML.badge("nothing recorded", "warn")
            }
            body += "<p>\(HTML.escape(device)): \(state)</p>"
            body += HTML.table(["Time (UTC)", "Kind", "Detail"], clock.events.map { [HTML.escape($0.time), HTML.escape($0.kind), HTML.escape($0.detail)] })
        }
        body += "<h2>Integrity of the data</h2>" + IntegrityTables.findings(r.openFindings)
        body += "<h2>Site signatures over the records</h2>" + segmentsTable(data.segments)
        body += "<h2>Conformance</h2>" + HTML.table(["Device", "Spec", "Reason"], r.nonconformances.map {
            [HTML.escape($0.device), "<code>\(HTML.escape(HTML.short($0.spec)))</code>", HTML.escape($0.reason)]
        })
        return HTML.page(title: "Batch \(r.batch) at \(r.site)", session: session, body: body)
    }

    /// Each chain segment, covered by a verified site signature or "unsigned" with the reason.
    static func segmentsTable(_ segments: [ChainSegment]) -> String {
        guard !segments.isEmpty else { return "<p class=\"muted\">No records of this batch are held yet.</p>" }
        let covered = segments.allSatisfy(\.isCovered)
        return "<p>" + (covered ? "Every chain segment of this batch is covered by a verified site signature."
            : "<strong>Not every chain segment of this batch is covered by a verified site signature.</strong>") + "</p>"
            + HTML.table(["Stream", "Records", "Signed", "Signed at (UTC)", "Key"], segments.map { segment in
                [HTML.escape(segment.stream), "\(segment.first)...\(segment.last)",
                 segment.problem.map { "unsigned: " + HTML.escape($0) } ?? "verified, through \(segment.signedSeq ?? 0)",
                 HTML.escape(segment.signedAt ?? ""), HTML.escape(String((segment.key ?? "").prefix(24)))]
            })
    }

    static func signaturesTable(_ signatures: [BatchSignatures.Signature]) -> String {
        HTML.table(["Signed (UTC)", "Signer", "Role", "Meaning", "Comment", "Binding"], signatures.map { s in
            [HTML.escape(s.signed), HTML.escape(s.fullName) + " <span class=\"muted\">(\(HTML.escape(s.userName)))</span>", HTML.escape(s.role),
             "<b class=\"meaning\">\(HTML.escape(s.meaning))</b>", HTML.escape(s.comment),
             s.valid ? HTML.badge("valid", "ok") + " <code>\(HTML.escape(String(s.recordHash.prefix(12))))</code>"
                : "<span class=\"invalid\">INVALID: the record changed after signing</span> <code>\(HTML.escape(String(s.recordHash.prefix(12))))</code>"]
        }, cssClass: "signatures")
    }

    static func signForm(_ data: Data, session: WebSessions.Session) -> String {
        let r = data.record
        var warnings = ""
        if !r.openFindings.isEmpty { warnings += "<p class=\"notice open-findings\">\(r.openFindings.count) open integrity findings on this batch's streams (below).</p>" }
        if !r.nonconformances.isEmpty { warnings += "<p class=\"notice nonconformances\">\(r.nonconformances.count) nonconformances: \(HTML.escape(r.nonconformances.map(\.reason).joined(separator: "; "))).</p>" }
        let open = r.disputes.filter { $0.resolved == nil }
        if !open.isEmpty {
            warnings += "<p class=\"notice disputes\">\(open.count) records of this batch arrived in two differing copies and are disputed: "
                + HTML.escape(open.map { "#\($0.id) \($0.stream) \($0.seq)" }.joined(separator: ", "))
                + ". The batch cannot be signed until QA decides which copy is the record (pocare-control disputes resolve).</p>"
        }
        guard session.role.maySign else {
            return warnings + "<p class=\"muted\">Your role (\(HTML.escape(session.role.rawValue))) does not sign batch records.</p>"
        }
        let meanings = BatchSignatures.Meaning.allCases.filter { $0 != .approvedForRelease || session.role == .qp }
        return """
            <form method="post" action="/batches/\(HTML.segment(r.site))/\(HTML.segment(r.batch))/sign" class="sign">
            \(warnings)
            <input type="hidden" name="csrf" value="\(HTML.escape(session.csrfToken))">
            <label>Meaning <select name="meaning">\(meanings.map { "<option value=\"\(HTML.escape($0.rawValue))\">\(HTML.escape($0.rawValue))</option>" }.joined())</select></label>
            <label>Comment <textarea name="comment" rows="2" cols="50"></textarea></label>
            <label>Password of \(HTML.escape(session.fullName)) <input type="password" name="password" autocomplete="current-password" required></label>
            <p class="muted">Signing binds your name, the time and the meaning to this record (SHA-256 <code>\(HTML.escape(String(data.recordHash.prefix(12))))</code>).</p>
            <button type="submit" name="sign" value="1">Sign</button>
            </form>
            """
    }

    static func isoSeconds(_ text: String) -> Double? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (f.date(from: text) ?? ISO8601DateFormatter().date(from: text))?.timeIntervalSince1970
    }
}
