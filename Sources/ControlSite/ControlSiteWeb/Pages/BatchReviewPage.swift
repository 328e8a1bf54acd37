import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareContract
import POCareCore

/// The batch record as a QP reviews it: first every exception, each linked to its evidence;
/// then the disposition with its signatures and forms; then the record itself (a plot for every
/// parameter, the excursions, unmonitored time and every event in one timeline, the site's
/// record, the clock evidence, integrity, conformance).
enum BatchReviewPage {
    struct Data: Sendable {
        var review: BatchReview
        var samples: [PageQueries.DeviceSamples]
        var specs: [String: IPCSpec]
        /// For a QA person or a QP: why each meaning they may sign would be refused now.
        var refusals: [Disposition.Meaning: [String]] = [:]
    }

    static func load(site: String, batch: String, specs catalogue: SpecCatalogue, settings: QualitySettings, session: WebSessions.Session,
                     on connection: PostgresConnection) throws -> Data? {
        guard let review = try BatchReview.load(site: site, batch: batch, settings: settings, on: connection) else { return nil }
        var specs: [String: IPCSpec] = [:]
        for fingerprint in Set(review.record.phases.compactMap(\.spec)) {
            if let spec = try catalogue.spec(fingerprint, on: connection) { specs[fingerprint] = spec }
        }
        var data = Data(review: review, samples: try PageQueries.batchSamples(site: site, batch: batch, on: connection), specs: specs)
        if let user = try WebUsers.find(session.userName, on: connection) {
            let inMasterFile = try MasterFile.site(site, on: connection) != nil
            for meaning in Disposition.Meaning.allCases where meaning.roles.contains(user.role) {
                let context = DispositionGate.Context(review: review, meaning: meaning, signer: user, shownHash: review.recordHash,
                                                      settings: settings, inMasterFile: inMasterFile)
                data.refusals[meaning] = DispositionGate.failures(context).map(\.1)
            }
        }
        return data
    }

    /// The record's JSON: the oversight command's record, its review and disposition, and the record's hash now.
    struct JSONRecord: Encodable {
        var record: BatchRecord
        var recordHash: String
        var state: String
        var signatures: [Disposition.Signature]
        var exceptions: [BatchReview.Check]
    }

    static func render(_ data: Data, session: WebSessions.Session) -> String {
        let review = data.review, r = review.record
        let base = "/batches/\(HTML.segment(r.site))/\(HTML.segment(r.batch))"
        var body = "<p><a href=\"\(base)/record.json\">record as JSON</a> · record SHA-256 <code class=\"record-hash\">\(HTML.escape(review.recordHash))</code> · "
            + BatchesPage.purpose(r.purpose) + " · " + BatchesPage.stateBadge(review.status.state.rawValue, invalid: review.status.invalidated) + "</p>"
        body += BatchReviewSections.exceptions(review)
        body += "<h2 id=\"disposition\">Disposition</h2>" + BatchReviewSections.signatures(review.status.signatures)
            + BatchReviewSections.forms(data, session: session)
        body += BatchReviewSections.identity(review, specs: data.specs)
        body += "<h2 id=\"trends\">Trends</h2><p class=\"muted\">Bands: green within alert limits, amber between alert and action limits, red beyond action limits; "
            + "red shading: an excursion of the site's record; hatched: unmonitored; dashed vertical: phase boundary; markers: alarm raised ▲, acknowledged ◆, cleared □ (hover for who and why). "
            + "Discrete and enumerated parameters as strips of their labels.</p><div class=\"plots\">"
        var shown: String?
        for plot in BatchPlots.plots(data) {
            if plot.device != shown { body += "<h3>\(HTML.escape(plot.device))</h3>" }
            shown = plot.device
            body += plot.svg + (plot.note.map { "<p class=\"notice plot-note\">\(HTML.escape($0))</p>" } ?? "")
        }
        if data.samples.isEmpty { body += "<p class=\"notice plot-note\">No sample of this batch has reached the Control Site.</p>" }
        body += "</div>"
        body += BatchReviewSections.excursions(review) + BatchReviewSections.unmonitored(review) + BatchReviewSections.timeline(review)
        body += BatchReviewSections.siteRecord(review) + BatchReviewSections.clock(review)
        body += "<h2 id=\"integrity\">Integrity of the data</h2>" + IntegrityTables.findings(r.openFindings)
        body += "<h2 id=\"conformance\">Conformance</h2>" + HTML.table(["Device", "Spec", "Reason"], r.nonconformances.map {
            [HTML.escape($0.device), "<code>\(HTML.escape(HTML.short($0.spec)))</code>", HTML.escape($0.reason)]
        }, cssClass: "conformance")
        body += "<h2 id=\"deviations\">Deviations</h2>" + DeviationsPage.table(review.deviations)
        return HTML.page(title: "Batch \(r.batch) at \(r.site)", session: session, body: body)
    }

    static func isoSeconds(_ text: String) -> Double? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (f.date(from: text) ?? ISO8601DateFormatter().date(from: text))?.timeIntervalSince1970
    }
}
