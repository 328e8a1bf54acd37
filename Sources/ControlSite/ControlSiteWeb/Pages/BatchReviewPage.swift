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
        var samples: [PageQueries.DeviceSamples]
        var specs: [String: IPCSpec]
        var signatures: [BatchSignatures.Signature]
        var recordHash: String
        /// Every deviation linked to the batch, open or closed.
        var deviations: [Deviations.Record] = []
    }

    static func load(site: String, batch: String, specs catalogue: SpecCatalogue, on connection: PostgresConnection) throws -> Data? {
        guard let record = try BatchRecord.load(connection, site: site, batch: batch),
              let hash = try BatchRecordDigest.hash(site: site, batch: batch, on: connection)
        else { return nil }
        var specs: [String: IPCSpec] = [:]
        for fingerprint in Set(record.phases.compactMap(\.spec)) {
            if let spec = try catalogue.spec(fingerprint, on: connection) { specs[fingerprint] = spec }
        }
        return Data(record: record, samples: try PageQueries.batchSamples(site: site, batch: batch, on: connection), specs: specs,
                    signatures: try BatchSignatures.list(site: site, batch: batch, currentHash: hash, on: connection), recordHash: hash,
                    deviations: try Deviations.list(site: site, batch: batch, on: connection))
    }

    /// The record's JSON: the oversight command's record, with the signatures and the record's hash now.
    struct JSONRecord: Encodable {
        var record: BatchRecord
        var recordHash: String
        var signatures: [BatchSignatures.Signature]
    }

    static func plots(_ data: Data) -> [(device: String, svg: String)] {
        var out: [(String, String)] = []
        for device in data.samples {
            // Phases as the samples ran them: a new phase starts where the samples' phase changes.
            var runs: [(name: String, start: Double, end: Double)] = []
            for (t, p) in zip(device.times, device.phases) {
                if let last = runs.last, last.name == p { runs[runs.count - 1].end = t } else {
                    if !runs.isEmpty { runs[runs.count - 1].end = t }
                    runs.append((p, t, t))
                }
            }
            let specByPhase = Dictionary(data.record.phases.filter { $0.device == device.device }.map { ($0.phase, $0.spec) },
                                         uniquingKeysWith: { a, _ in a })
            for parameter in device.values.keys.sorted() {
                var unit = ""
                let phases = runs.map { run -> TrendPlot.Phase in
                    let limits = specByPhase[run.name].flatMap { $0 }.flatMap { data.specs[$0] }?.phase(run.name)?.limits(for: parameter)
                    if let l = limits, !l.unit.isEmpty { unit = l.unit }
                    return TrendPlot.Phase(
                        name: run.name.isEmpty ? "(no phase)" : run.name, start: run.start, end: run.end,
                        limits: limits.map { .init(alertLow: $0.alertLow, alertHigh: $0.alertHigh, actionLow: $0.actionLow, actionHigh: $0.actionHigh) })
                }
                let markers = data.record.events.filter { $0.stream.hasPrefix(device.device + "/") }.compactMap { e -> TrendPlot.Marker? in
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
                let observations = zip(device.times, device.values[parameter] ?? []).map { TrendPlot.Observation(time: $0, value: $1) }
                let plot = TrendPlot(parameter: parameter, unit: unit, observations: observations, phases: phases, markers: markers)
                out.append((device.device, plot.svg()))
            }
        }
        return out
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        let r = data.record
        var body = "<p><a href=\"/batches/\(HTML.segment(r.site))/\(HTML.segment(r.batch))/record.json\">record as JSON</a> · "
            + "record SHA-256 <code>\(HTML.escape(data.recordHash))</code></p>"
        if let purpose = r.purpose, purpose != "production" {
            body += "<p class=\"notice purpose\">" + BatchesPage.purpose(purpose) + " — the site was not qualified when the batch started.</p>"
        } else if r.purpose == nil {
            body += "<p class=\"notice purpose\">The site is not in the POC Master File.</p>"
        }
        let open = data.deviations.filter(\.isOpen)
        body += "<h2>Deviations</h2>" + (open.isEmpty ? "" : "<p class=\"notice open-deviations\">\(open.count) open deviations on this batch.</p>")
            + DeviationsPage.table(data.deviations)
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
        body += "<h2>Trends</h2><p class=\"muted\">Bands: green within alert limits, amber between alert and action limits, red beyond action limits; "
            + "red shading: excursion; hatched: unmonitored; dashed vertical: phase boundary; markers: alarm raised ▲, acknowledged ◆, cleared □ (hover for who and why).</p>"
        body += "<div class=\"plots\">"
        var shown: String?
        for (device, svg) in plots(data) {
            if device != shown { body += "<h3>\(HTML.escape(device))</h3>" }
            shown = device
            body += svg
        }
        body += "</div>"
        func events(_ kinds: Set<String>) -> [[String]] {
            r.events.filter { kinds.contains($0.kind) }.map { e in
                let b = (try? JSONSerialization.jsonObject(with: Foundation.Data(e.detail.utf8))) as? [String: Any] ?? [:]
                // An excursion record carries its alarm and worst value inside `excursion`.
                let x = b["excursion"] as? [String: Any] ?? [:]
                let value = (b["value"] as? Double) ?? (x["worst_value"] as? Double)
                return [HTML.escape(e.time), HTML.escape(e.kind), HTML.escape(b["alarm"] as? String ?? x["alarm"] as? String ?? e.stream),
                        HTML.escape((b["user"] as? String) ?? "-"),
                        HTML.escape((b["reason"] as? String) ?? (x["duration_s"] as? Double).map { "lasted \(SVGText.number($0)) s" } ?? "-"),
                        HTML.escape(value.map { SVGText.number($0) } ?? "-")]
            }
        }
        let headers = ["Time (UTC)", "Kind", "Alarm", "By", "Why", "Value"]
        body += "<h2>Excursions</h2>" + HTML.table(headers, events(["excursion"]))
        body += "<h2>Alarms</h2>" + HTML.table(headers, events(["raised", "escalated", "deescalated", "acknowledged", "cleared", "reset", "open_at_batch_end"]))
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
        body += "<h2>Conformance</h2>" + HTML.table(["Device", "Spec", "Reason"], r.nonconformances.map {
            [HTML.escape($0.device), "<code>\(HTML.escape(HTML.short($0.spec)))</code>", HTML.escape($0.reason)]
        })
        return HTML.page(title: "Batch \(r.batch) at \(r.site)", session: session, body: body)
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
