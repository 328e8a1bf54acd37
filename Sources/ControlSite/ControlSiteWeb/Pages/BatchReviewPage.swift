import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareContract
import POCareCore
import SVGPlot

/// The batch record as a QP reviews it: first every exception, each linked to its evidence;
/// then the disposition with its signatures and forms; then the record itself (per device and
/// parameter a trend with the bands of the phase in force and its statistics beside it, state
/// strips for discrete and enumerated parameters, the excursions, unmonitored time and every
/// event in one timeline, the site's record, the clock evidence, integrity, conformance).
enum BatchReviewPage {
    struct Data: Sendable {
        var review: BatchReview
        var specs: [String: IPCSpec]
        var limits: Limits
        /// Discrete and enumerated parameters over the batch, for their state strips.
        var labels: [LabelSeriesReader.Series] = []
        /// For a QA person or a QP: why each meaning they may sign would be refused now.
        var refusals: [Disposition.Meaning: [String]] = [:]

        var record: BatchRecord { review.record }
        var recordHash: String { review.recordHash }
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

        var labels: LabelSeriesReader.Limits {
            var l = LabelSeriesReader.Limits()
            l.maxParameters = maxParameters
            l.maxSampleBytes = maxSampleBytes
            l.maxChanges = max(100, maxRows)
            return l
        }

        /// How the page reads the samples, as its preparer reads them ahead (`PreparedBatchReviews`),
        /// with the preparer's own sample limit in place of the page's (which is not part of what is kept).
        func prepared(maxSamples: Int) -> PreparedBatchReviews.Reader {
            var series = reader
            series.maxSamples = maxSamples
            return .init(series: series, labels: labels)
        }
    }

    static func load(
        site: String, batch: String, specs catalogue: SpecCatalogue, limits: Limits, budget: DatabaseWorkers.Budget, settings: QualitySettings,
        userName: String? = nil, on connection: PostgresConnection
    ) throws -> Data? {
        guard let review = try BatchReview.load(
            site: site, batch: batch, settings: settings, specs: catalogue.lookup, eventLimit: limits.maxRows, limits: limits.reader,
            labels: limits.labels, checkpoint: budget.check, on: connection)
        else { return nil }
        try budget.check()
        var specs: [String: IPCSpec] = [:]
        for fingerprint in Set(review.record.phases.compactMap(\.spec)) {
            if let spec = try catalogue.spec(fingerprint, on: connection) { specs[fingerprint] = spec }
        }
        var data = Data(review: review, specs: specs, limits: limits, labels: review.record.labels)
        data.segments = try ChainCoverage.segments(site: site, batch: batch, keptWalks: true, on: connection)
        if let userName, let user = try WebUsers.find(userName, on: connection) {
            let inMasterFile = try MasterFile.site(site, on: connection) != nil
            for meaning in Disposition.Meaning.allCases where meaning.roles.contains(user.role) {
                let context = DispositionGate.Context(review: review, meaning: meaning, signer: user, shownHash: review.recordHash,
                                                      settings: settings, inMasterFile: inMasterFile, chainSegments: data.segments)
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
        body += "<h2 id=\"trends\">Trends and statistics</h2><p class=\"muted\">Bands: green within alert limits, amber between alert and action limits, red beyond action limits; "
            + "red shading: excursion; hatched: unmonitored; dashed vertical: phase boundary; markers: alarm raised ▲, acknowledged ◆, cleared □ (hover for who and why). "
            + "Beside each plot, per phase, the parameter's statistics by the one rule of the site's record: each value holds until the next sample, "
            + "at most the hold limit, from the batch's start to its end; an excursion is the time a value was outside its limits, whatever the alarm's delays. "
            + "Discrete and enumerated parameters as strips of their labels.</p>"
        // The plots draw values thinned to the page's width; a window shows every sample in it.
        let devices = r.statistics.map(\.device)
        if let start = r.statistics.map(\.summary.start).min(), let end = r.statistics.map(\.summary.end).max() {
            body += BatchWindowPage.zoomForm(site: r.site, batch: r.batch, devices: devices, from: start, to: min(end, start + 3600))
        }
        body += BatchStatisticsTables.trends(data, plots: BatchPlots.plots(data))
        body += BatchPlots.stateStrips(data)
        body += BatchReviewSections.excursions(review) + BatchReviewSections.unmonitored(review) + BatchReviewSections.timeline(review)
        if r.eventsLeftOut > 0 {
            body += "<p class=\"notice\">\(r.eventsLeftOut) more events of this batch are not listed here (the page lists \(data.limits.maxRows)); "
                + "pocare-control batch lists every one.</p>"
        }
        body += BatchReviewSections.siteRecord(review) + BatchReviewSections.clock(review)
        body += "<h2 id=\"integrity\">Integrity of the data</h2>" + IntegrityTables.findings(r.openFindings)
        let disputes = r.disputes.filter { $0.resolved == nil }
        if !disputes.isEmpty {
            body += "<p class=\"notice disputes\">\(disputes.count) records of this batch arrived in two differing copies and are disputed: "
                + HTML.escape(disputes.map { "#\($0.id) \($0.stream) \($0.seq)" }.joined(separator: ", "))
                + ". The batch cannot be signed until QA decides which copy is the record (pocare-control disputes resolve).</p>"
        }
        body += "<h2 id=\"conformance\">Conformance</h2>" + HTML.table(["Device", "Spec", "Reason"], r.nonconformances.map {
            [HTML.escape($0.device), "<code>\(HTML.escape(HTML.short($0.spec)))</code>", HTML.escape($0.reason)]
        }, cssClass: "conformance")
        body += "<h2 id=\"deviations\">Deviations</h2>" + DeviationsPage.table(review.deviations)
        body += "<h2 id=\"segments\">Site signatures over the records</h2>" + segmentsTable(data.segments)
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

    static func isoSeconds(_ text: String) -> Double? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (f.date(from: text) ?? ISO8601DateFormatter().date(from: text))?.timeIntervalSince1970
    }
}
