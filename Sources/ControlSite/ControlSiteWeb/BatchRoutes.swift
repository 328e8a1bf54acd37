import ControlSiteRecords
import Hashing
import POCareContract
import Foundation
import HTTPTypes
import Hummingbird
import POCareCore

/// The batches: the list, one batch's review page and its record as JSON, and the e-signatures
/// of its disposition (sign, withdraw), each checked by the server before it is stored.
extension ControlSiteWebServer {
    func addBatchRoutes(_ router: Router<WebRequestContext>) {
        router.get("/batches") { [self] request, _ in
            try await signedIn(request) { session in
                let filter = FormFields(request.uri.query ?? "")["state"].flatMap { BatchStates.all.contains($0) ? $0 : nil }
                let (batches, states) = try await database.run { c in
                    let batches = try BatchSummary.list(c)
                    return (batches, try BatchStates.load(batches, on: c))
                }
                return Self.html(BatchesPage.render(batches, states: states, filter: filter, session: session))
            }
        }

        router.get("/batches/:site/:batch") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await signedIn(request) { session in
                let specs = self.specs, limits = BatchReviewPage.Limits(settings), quality = self.quality
                // While the preparer reads the batch, a reload does not read it as well.
                if preparer.isPending(site: site, batch: batch) {
                    return Self.preparingPage(.preparing, site: site, batch: batch, because: "it is being read", session: session)
                }
                let runningMost = settings.pageRunningMaxSamples
                if try await database.run({ try RunningBatchTrend.isLongAndRunning(site: site, batch: batch, samples: runningMost, on: $0) }) {
                    return try await runningTrend(site: site, batch: batch, session: session,
                                                  because: "a device has more than \(runningMost) samples in it (web: page_running_max_samples)")
                }
                do {
                    return try await boundedPage(request) { c, budget in
                        guard let data = try BatchReviewPage.load(site: site, batch: batch, specs: specs, limits: limits, budget: budget,
                                                                  settings: quality, userName: session.userName, on: c) else {
                            return Self.problem(.notFound, "No records of batch \(batch) at \(site).", session: session)
                        }
                        try budget.check()
                        return Self.html(BatchReviewPage.render(data, session: session))
                    }
                } catch let refusal as QualityRefusal {
                    // A record that cannot be shown whole (part of it archived) says so, with the way back.
                    return Self.refusal(refusal, session: session)
                } catch let refusal as DatabaseWorkers.Refusal {
                    guard case .overBudget = refusal else { throw refusal }
                    return try await notReadInTime(site: site, batch: batch, because: refusal.description, session: session)
                } catch let tooLarge as BatchSeriesReader.TooLarge {
                    return try await notReadInTime(site: site, batch: batch, because: tooLarge.description, session: session)
                }
            }
        }

        // Zoomed in: one device's samples within a window, read from the records themselves.
        router.get("/batches/:site/:batch/window") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await signedIn(request) { session in
                let query = FormFields(request.uri.query ?? "")
                guard let device = query["device"], !device.isEmpty else {
                    return Self.problem(.badRequest, "Name the device whose samples to show (device=).", session: session)
                }
                guard let fromText = query["from"], let start = BatchReviewPage.isoSeconds(fromText),
                      let toText = query["to"], let end = BatchReviewPage.isoSeconds(toText) else {
                    return Self.problem(.badRequest, "Give the window as from= and to=, each a UTC time such as 2026-12-01T10:00:00Z.", session: session)
                }
                let catalogue = self.specs
                let limits = {
                    var limits = BatchReviewPage.Limits(settings).reader
                    // A window holds at most what a running batch's page reads whole.
                    limits.maxSamples = min(limits.maxSamples, settings.pageRunningMaxSamples)
                    return limits
                }()
                do {
                    return try await boundedPage(request) { c, budget in
                        guard let data = try BatchWindowPage.load(site: site, batch: batch, device: device, from: start, to: end,
                                                                  catalogue: catalogue, limits: limits, budget: budget, on: c) else {
                            return Self.problem(.notFound, "No samples of \(device) in batch \(batch) at \(site).", session: session)
                        }
                        try budget.check()
                        return Self.html(BatchWindowPage.render(data, session: session))
                    }
                } catch let refusal as BatchWindow.Refusal {
                    return Self.problem(.badRequest, "Not shown: \(refusal.description).", session: session)
                } catch let tooLarge as BatchSeriesReader.TooLarge {
                    return Self.problem(.badRequest, "The window reaches \(tooLarge.samples) numbers of \(device)'s records (from the first "
                                        + "to the last row or ten-minute chunk it touches), more than the \(tooLarge.limit) a window reads "
                                        + "(web: page_running_max_samples): choose a shorter one.", session: session)
                } catch let refusal as DatabaseWorkers.Refusal {
                    guard case .overBudget = refusal else { throw refusal }
                    return Self.problem(.serviceUnavailable, "The window was not read within the page's time (\(refusal.description)): choose a shorter one.",
                                        session: session)
                }
            }
        }

        router.get("/batches/:site/:batch/record.json") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await signedIn(request, api: true) { _ in
                let specs = self.specs, limits = BatchReviewPage.Limits(settings), quality = self.quality
                if preparer.isPending(site: site, batch: batch) { return Self.preparingJSON(.preparing, because: "it is being read") }
                do {
                    return try await boundedPage(request) { c, budget in
                        let loaded: BatchReview?
                        do {
                            // Read as the page reads it, so what was prepared for the page serves here too; the plots' points are left out.
                            loaded = try BatchReview.load(
                                site: site, batch: batch, settings: quality, specs: specs.lookup, eventLimit: limits.maxRows, limits: limits.reader,
                                labels: limits.labels, checkpoint: budget.check, on: c)
                        } catch let refusal as QualityRefusal {
                            return Self.text("{\"error\":\(CanonicalJSON.string(refusal.message))}\n", contentType: "application/json",
                                             status: .init(code: refusal.httpStatus))
                        }
                        guard var review = loaded else { return Self.text("{\"error\":\"no such batch\"}\n", contentType: "application/json", status: .notFound) }
                        for i in review.record.statistics.indices { review.record.statistics[i].series = [] }
                        try budget.check()
                        return try Self.json(BatchReviewPage.JSONRecord(
                            record: review.record, recordHash: review.recordHash, state: review.status.state.rawValue,
                            signatures: review.status.signatures, exceptions: review.checks))
                    }
                } catch let refusal as DatabaseWorkers.Refusal {
                    guard case .overBudget = refusal else { throw refusal }
                    return Self.preparingJSON(try await preparation(site: site, batch: batch), because: refusal.description)
                } catch let tooLarge as BatchSeriesReader.TooLarge {
                    return Self.preparingJSON(try await preparation(site: site, batch: batch), because: tooLarge.description)
                }
            }
        }
    }

    /// A batch page that could not be read in time: an ended batch is prepared; a running one is
    /// shown from its minute rollups (`RunningBatchPage`), which read no sample.
    func notReadInTime(site: String, batch: String, because reason: String,
                       session: WebSessions.Session) async throws -> Response {
        let state = try await preparation(site: site, batch: batch)
        guard case .running = state else { return Self.preparingPage(state, site: site, batch: batch, because: reason, session: session) }
        return try await runningTrend(site: site, batch: batch, session: session, because: reason)
    }

    /// A running batch's page from its minute rollups, read on the lists' threads (with their
    /// time limit), not as a bounded page: it reads no sample, and a request's body can be taken
    /// only once, by the page that ran out of time before this.
    func runningTrend(site: String, batch: String, session: WebSessions.Session, because reason: String) async throws -> Response {
        let specs = self.specs, limits = BatchReviewPage.Limits(settings)
        guard let data = try await database.run({ c in
            try RunningBatchPage.load(site: site, batch: batch, catalogue: specs, limits: limits, reason: reason, on: c)
        }) else {
            return Self.problem(.notFound, "No records of batch \(batch) at \(site).", session: session)
        }
        return Self.html(RunningBatchPage.render(data, session: session))
    }

    /// Where a batch whose page could not be read in time stands with the preparer.
    enum Preparation {
        /// Being read; the page is shown when it is.
        case preparing
        /// Running: its record changes faster than it can be read whole, so it waits for its end.
        case running
        /// Its last reading failed, within the hour (a batch beyond `prepared_max_samples`, say).
        case failed(String)
    }

    /// A page of an ended batch that could not be read in time is read by the preparer, without
    /// the page's budget, and then comes from what was read for the record as it is. A running
    /// batch is not prepared until it ends; one whose reading failed is not read again for an hour.
    func preparation(site: String, batch: String) async throws -> Preparation {
        guard try await database.run({ try PreparedBatchReviews.hasEnded(site: site, batch: batch, on: $0) }) else { return .running }
        if let failure = preparer.failure(site: site, batch: batch) { return .failed(failure) }
        preparer.request(site: site, batch: batch)
        return .preparing
    }

    /// The answer while a page is prepared, or why it is not; the commands read the same record without waiting.
    static func preparingPage(_ state: Preparation, site: String, batch: String, because reason: String, session: WebSessions.Session) -> Response {
        let commands = "`pocare-control batch \(site) \(batch)` shows the same record and checks without a time limit, and `pocare-control disposition` signs it."
        switch state {
        case .running:
            return problem(.serviceUnavailable, """
                Not shown: \(reason). The batch is running, and a batch's page reads every sample of it: a batch of weeks at 1 Hz \
                takes longer than a page may, while its record keeps changing. Its page is prepared once the batch has ended. \(commands)
                """, session: session)
        case .failed(let failure):
            return problem(.serviceUnavailable, """
                Not shown: \(reason), and reading it without the page's limit failed: \(failure). It is tried again within the hour. \(commands)
                """, session: session)
        case .preparing:
            var answer = problem(.serviceUnavailable, """
                Being prepared: \(reason). A batch's page reads every sample of the batch, and a batch of weeks at 1 Hz takes longer \
                than a page may. It is being read now, once for the record as it is, and this page shows it when it is ready \
                (it reloads itself every 10 s). \(commands)
                """, session: session)
            answer.headers[.retryAfter] = "10"
            answer.headers[HTTPField.Name("Refresh")!] = "10"
            return answer
        }
    }

    static func preparingJSON(_ state: Preparation, because reason: String) -> Response {
        let error: String = switch state {
        case .running: "the batch is running: \(reason)"
        case .failed(let failure): "\(reason); reading it without the page's limit failed: \(failure)"
        case .preparing: "being prepared: \(reason)"
        }
        var answer = text("{\"error\":\(CanonicalJSON.string(error))}\n", contentType: "application/json", status: .serviceUnavailable)
        if case .preparing = state { answer.headers[.retryAfter] = "10" }
        return answer
    }

    func addBatchSignatureRoutes(_ router: Router<WebRequestContext>) {
        router.post("/batches/:site/:batch/sign") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await qualityForm(request, context) { session, form in
                guard session.role.maySign else {
                    try await refused(session, action: "batch.sign", target: "\(site)/\(batch)", reason: "not permitted: the role \(session.role.rawValue) does not sign")
                    throw QualityRefusal(.notPermitted, "Your role (\(session.role.rawValue)) does not sign batch records.")
                }
                guard let meaning = form["meaning"].flatMap(Disposition.Meaning.init(rawValue:)) else {
                    throw QualityRefusal(.invalidInput, "meaning: expected one of \(Disposition.Meaning.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let password = form["password"] ?? "", comment = form["comment"] ?? "", shown = form["record_hash"] ?? ""
                let quality = self.quality, lookup = specs.lookup, throttle = signatureThrottle(context)
                // Its own threads and budget: it reads every sample of the batch from the rows, beyond a page's time for a batch of weeks.
                let signature: Disposition.Signature
                do {
                    signature = try await signing.run {
                        try BatchSignatures.sign(site: site, batch: batch, meaning: meaning, shownHash: shown, comment: comment, userName: session.userName,
                                                 password: password, settings: quality, specs: lookup, throttle: throttle, on: $0)
                    }
                } catch DatabaseWorkers.Refusal.overBudget(let seconds) {
                    logger.warning("a batch signature ran out of its budget", metadata: ["site": "\(site)", "batch": "\(batch)", "seconds": "\(seconds)"])
                    return Self.problem(.serviceUnavailable, """
                        The signature was not recorded: reading the record of batch \(batch) from its rows took longer than the \
                        \(formatNumber(seconds)) s a signature may take (web: sign_budget).
                        """, session: session)
                }
                logger.notice("batch record signed", metadata: [
                    "site": "\(site)", "batch": "\(batch)", "user": "\(session.userName)", "meaning": "\(meaning.rawValue)",
                    "record": "\(signature.recordHash)",
                ])
                return Self.redirect("/batches/\(HTML.segment(site))/\(HTML.segment(batch))")
            }
        }

        router.post("/batches/:site/:batch/withdraw") { [self] request, context in
            let site = Self.parameter(context, "site"), batch = Self.parameter(context, "batch")
            return try await qualityForm(request, context) { session, form in
                let password = form["password"] ?? "", reason = form["reason"] ?? "", throttle = signatureThrottle(context)
                try await database.run {
                    try BatchSignatures.withdraw(site: site, batch: batch, reason: reason, userName: session.userName, password: password,
                                                 throttle: throttle, on: $0)
                }
                return Self.redirect("/batches/\(HTML.segment(site))/\(HTML.segment(batch))")
            }
        }
    }
}
