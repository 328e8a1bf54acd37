import ControlSiteRecords
import Foundation

/// The checks of review by exception, in the order a reviewer reads them. Each says what it
/// found (linked to the evidence), or that it could not run and why.
enum BatchReviewChecks {
    static func all(_ r: BatchReview, settings: QualitySettings, on connection: PostgresConnection) throws -> [BatchReview.Check] {
        let base = "/batches/\(segment(r.record.site))/\(segment(r.record.batch))"
        let awaiting = r.status.awaitingRecords
        func check(_ name: String, _ title: String, needsRecord: Bool = false, _ items: [BatchReview.Item]) -> BatchReview.Check {
            if needsRecord && !awaiting.isEmpty {
                return .init(name: name, title: title, ran: false, items: [.init(
                    text: "not checked: the site's batch record of \(awaiting.joined(separator: ", ")) has not arrived (the batch runs, or its end is on its way)",
                    link: base + "#site-record")] + items)
            }
            return .init(name: name, title: title, ran: true, items: items)
        }
        return [
            check("record", "The site's batch record", recordItems(r, base: base)),
            check("excursions", "Excursions", needsRecord: true, r.excursions.map { x in
                .init(text: "\(x.alarm): outside \(x.worstLevel) \(x.side) limits from \(x.start) to \(x.end) (\(fmt(x.durationS)) s), worst \(fmt(x.worstValue))"
                      + (x.openAtBatchEnd ? ", still outside at the batch's end" : ""), link: base + "#excursions")
            }),
            check("alarms", "Alarms (unacknowledged, shelved, out of service)", needsRecord: true, alarmItems(r, base: base)),
            check("unmonitored", "Unmonitored time", needsRecord: true, r.unmonitored.map { u in
                .init(text: "\(u.device): \(fmt(u.durationS)) s from \(u.from) to \(u.to) (\(u.cause))", link: base + "#unmonitored")
            }),
            check("integrity", "Integrity of the data", integrityItems(r, base: base)),
            check("spec", "Spec state", specItems(r, base: base)),
            check("equipment", "Equipment and conformance", try equipmentItems(r, base: base, on: connection)),
            check("qualification", "Site qualification", try qualificationItems(r, settings: settings, on: connection)),
            check("clock", "Clock evidence", needsRecord: true, clockItems(r, base: base)),
            check("deviations", "Open deviations", r.deviations.filter(\.isOpen).map { d in
                .init(text: "\(d.reference) \(d.stateWords): \(d.title)", link: "/deviations/\(d.id)")
            }),
            check("monitored", "Monitored time", needsRecord: true, monitoredItems(r, base: base)),
        ]
    }

    static func recordItems(_ r: BatchReview, base: String) -> [BatchReview.Item] {
        let awaiting = r.status.awaitingRecords
        return [
            awaiting.isEmpty ? nil : BatchReview.Item(text: "not received for \(awaiting.joined(separator: ", "))", link: base + "#site-record"),
        ].compactMap { $0 } + r.record.siteRecords.flatMap { c in
            c.differences.map { BatchReview.Item(text: "\(c.device): \($0)", link: base + "#site-record") }
        }
    }

    static func alarmItems(_ r: BatchReview, base: String) -> [BatchReview.Item] {
        var alarms: [BatchReview.Item] = []
        for c in r.record.siteRecords {
            guard let record = c.record else { continue }
            for a in record.alarms where a.acknowledgedBy == nil {
                alarms.append(.init(text: "\(a.alarm) \(a.kind) at \(a.time): never acknowledged", link: base + "#timeline"))
            }
            for a in record.alarms where a.openAtBatchEnd && a.acknowledgedBy != nil {
                alarms.append(.init(text: "\(a.alarm) still standing at the batch's end", link: base + "#timeline"))
            }
            for s in record.shelves {
                alarms.append(.init(text: "\(s.alarm) shelved from \(s.from) by \(s.by ?? "?"): \(s.reason ?? "")", link: base + "#timeline"))
            }
            for o in record.alarmService?.outOfService ?? [] {
                alarms.append(.init(text: "\(o.target) out of service from \(o.from)\(o.to.map { " to \($0)" } ?? ", not returned") by \(o.takenBy ?? "?"): \(o.reason ?? "")",
                                    link: base + "#timeline"))
            }
        }
        return alarms
    }

    static func integrityItems(_ r: BatchReview, base: String) -> [BatchReview.Item] {
        r.record.openFindings.map { f in
            .init(text: "\(f.kind) on \(f.stream): \(f.detail)", link: base + "#integrity")
        } + r.record.disputes.filter { $0.resolved == nil }.map { d in
            .init(text: "record \(d.stream) #\(d.seq) disputed: two differing copies arrived", link: base + "#integrity")
        }
    }

    static func specItems(_ r: BatchReview, base: String) -> [BatchReview.Item] {
        r.specs.filter { $0.state != "released" }.map { s in
            .init(text: "\(s.document ?? s.fingerprint) \(s.version ?? ""): \(s.state)", link: "/specs")
        } + (r.record.phases.contains { $0.spec == nil } ? [.init(text: "samples without a spec", link: base + "#equipment")] : [])
    }

    static func equipmentItems(_ r: BatchReview, base: String, on connection: PostgresConnection) throws -> [BatchReview.Item] {
        let inMasterFile = try MasterFile.site(r.record.site, on: connection) != nil
        return (inMasterFile ? [] : [
            BatchReview.Item(text: "\(r.record.site) is not in the POC Master File: its equipment is not registered", link: "/sites/\(segment(r.record.site))"),
        ]) + r.record.nonconformances.map { n in .init(text: "\(n.device.isEmpty ? "" : n.device + ": ")\(n.reason)", link: base + "#conformance") }
    }

    static func qualificationItems(_ r: BatchReview, settings: QualitySettings, on connection: PostgresConnection) throws -> [BatchReview.Item] {
        var qualification: [BatchReview.Item] = []
        switch r.record.purpose {
        case nil: qualification.append(.init(text: "the site is not in the POC Master File", link: "/sites/\(segment(r.record.site))"))
        case "production"?: break
        case let purpose?: qualification.append(.init(text: "a \(purpose) batch: the site was not qualified when it started", link: "/sites/\(segment(r.record.site))"))
        }
        if let status = try Qualification.status(site: r.record.site, settings: settings, on: connection), status.check == "overdue" {
            qualification.append(.init(text: status.display, link: "/sites/\(segment(r.record.site))"))
        }
        return qualification
    }

    static func clockItems(_ r: BatchReview, base: String) -> [BatchReview.Item] {
        var clock: [BatchReview.Item] = []
        for c in r.record.siteRecords {
            guard let evidence = c.record?.clock else { continue }
            if evidence.synchronisedThroughout != true {
                clock.append(.init(text: "\(c.device): \(evidence.synchronisedThroughout == false ? "the clock was NOT synchronised throughout" : "no clock evidence recorded")",
                                   link: base + "#clock"))
            }
            let steps = evidence.events.filter { $0.kind == "clock_step" }.compactMap { stepSeconds($0.detail) }
            if let largest = steps.max(by: { abs($0) < abs($1) }) {
                clock.append(.init(text: "\(c.device): \(steps.count) clock steps, the largest \(fmt(largest)) s", link: base + "#clock"))
            }
        }
        return clock
    }

    static func monitoredItems(_ r: BatchReview, base: String) -> [BatchReview.Item] {
        let records = r.record.siteRecords.compactMap(\.record)
        let monitored = records.reduce(0.0) { total, record in
            total + (record.phases.flatMap(\.parameters).map(\.monitoredS).max() ?? 0)
        }
        let samples = r.record.phases.reduce(Int64(0)) { $0 + $1.samples }
        return samples == 0 || (!records.isEmpty && monitored <= 0)
            ? [.init(text: samples == 0 ? "no samples: the batch was never monitored" : "no monitored time in the site's record", link: base + "#trends")]
            : []
    }

    /// The step a finding's detail names; a detail without one (older findings) names none.
    static func stepSeconds(_ detail: String) -> Double? {
        ((try? JSONSerialization.jsonObject(with: Data(detail.utf8))) as? [String: Any])?["step_s"].flatMap { ($0 as? NSNumber)?.doubleValue }
    }

    static func fmt(_ x: Double) -> String {
        guard x.isFinite else { return "?" }
        return x == x.rounded() && abs(x) < 1e12 ? String(Int64(x)) : String(format: "%.4g", x)
    }

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? text
    }
}
