import Logging
import MQTT
import POCareContract
import POCareCore
import SiteStore

/// Replay on request, on the link thread: the requests read and answered, each requester on its
/// own quota (`ReplayAdmission`), and the accepted ranges published again.
extension ControlSiteLink {
    /// Answers the replay requests that arrived on `replay/status` (accepted with the range that
    /// will be sent and what was pruned, or refused with the reason) and queues the accepted ones:
    /// the Control Site's on their own quota and queue, anyone else's on a smaller one, answered at
    /// most about once a second (`ReplayAdmission`). Malformed requests are logged (the first and
    /// every hundredth) and dropped.
    func takeReplayRequests(
        client: MQTTClient, reader: StoreReader, topics: Topics, flow: Flow, admission: ReplayAdmission, logger: Logger
    ) {
        for reason in flow.malformedReasons {
            flow.malformedRequests += 1
            if flow.malformedRequests == 1 || flow.malformedRequests.isMultiple(of: 100) {
                logger.warning("replay request dropped", metadata: ["reason": "\(reason)", "dropped": "\(flow.malformedRequests)"])
            }
        }
        flow.malformedReasons = []
        let requestAnswer = { (request: ReplayRequest?, state: String, reason: String?, pruned: Int64?, sending: ClosedRange<Int64>?) in
            let payload = Contract.replayStatus(
                site: self.settings.site, epoch: self.epoch, request: request, state: state, reason: reason, prunedThrough: pruned,
                sending: sending)
            _ = try? client.publish(topic: topics.replayStatus, payload: payload, qos: 1, retain: false)
        }
        let busy = "too many replay requests; ask again later"
        for request in flow.fromControlSite {
            guard admission.controlSite.take(), flow.replays.count(where: \.fromControlSite) < ReplayAdmission.controlSiteQueue else {
                requestAnswer(request, "refused", busy, nil, nil)
                continue
            }
            admit(request, fromControlSite: true, reader: reader, flow: flow, logger: logger, answer: requestAnswer)
        }
        flow.fromControlSite = []
        for (request, refusal) in flow.fromOthers {
            flow.unprovenRequests += 1
            if flow.unprovenRequests == 1 || flow.unprovenRequests.isMultiple(of: 100) {
                logger.warning("a replay request not proven to be the Control Site's", metadata: [
                    "id": "\(request.id)", "refused": "\(refusal ?? "no: answered on the other requesters' quota")",
                    "so_far": "\(flow.unprovenRequests)", "repeats_dropped": "\(flow.repeatedRequests)"])
            }
            // A flood is not answered message for message: beyond the budget, silence.
            let answering = admission.answersToOthers.take()
            let answer = answering ? requestAnswer : { _, _, _, _, _ in }
            if let refusal {
                answer(request, "refused", refusal, nil, nil)
            } else if admission.others.take(), flow.replays.count(where: { !$0.fromControlSite }) < ReplayAdmission.otherQueue {
                admit(request, fromControlSite: false, reader: reader, flow: flow, logger: logger, answer: answer)
            } else {
                answer(request, "refused", busy, nil, nil)
            }
        }
        flow.fromOthers = []
    }

    /// Checks one request against the store and queues what it may have; the Control Site's
    /// replays go before anyone else's.
    func admit(
        _ request: ReplayRequest, fromControlSite: Bool, reader: StoreReader, flow: Flow, logger: Logger,
        answer: (ReplayRequest?, String, String?, Int64?, ClosedRange<Int64>?) -> Void
    ) {
        guard request.epoch == epoch else {
            answer(request, "refused", "the store's epoch is \(epoch), not \(request.epoch): its sequence numbers are another series", nil, nil)
            return
        }
        guard let state = (try? reader.streams())?.first(where: { $0.stream == request.stream }) else {
            answer(request, "refused", "no stream \(request.stream) at this site", nil, nil)
            return
        }
        let first = (try? reader.firstSeq(stream: request.stream)) ?? nil
        let held = first ?? (state.lastSeq + 1)
        let pruned: Int64? = request.from < held ? min(request.to, held - 1) : nil
        let from = max(request.from, held), to = min(request.to, state.lastSeq)
        guard from <= to else {
            let reason = pruned != nil
                ? "the range was pruned: the store holds \(request.stream) from \(held)"
                : "not committed yet: the last record of \(request.stream) is \(state.lastSeq)"
            answer(request, "refused", reason, pruned, nil)
            return
        }
        answer(request, "accepted", pruned.map { "\(request.from)...\($0) was pruned" }, pruned, from...to)
        logger.info("replay accepted", metadata: [
            "stream": "\(request.stream)", "from": "\(from)", "to": "\(to)", "id": "\(request.id)",
            "requester": "\(fromControlSite ? "control site" : "unproven")"])
        let job = ReplayJob(request: request, next: from, last: to, prunedThrough: pruned, fromControlSite: fromControlSite)
        // Behind the Control Site's queued replays, ahead of anyone else's (one in progress waits).
        let place = fromControlSite ? (flow.replays.firstIndex { !$0.fromControlSite } ?? flow.replays.endIndex) : flow.replays.endIndex
        flow.replays.insert(job, at: place)
    }

    /// Publishes replayed records in their original form on their own topics (a consumer drops
    /// what it already has by sequence number), a few messages in flight and a bounded number
    /// of records a second. The watermarks are not touched.
    func serveReplays(client: MQTTClient, reader: StoreReader, topics: Topics, flow: Flow, logger: Logger) {
        let second = MonotonicClock.now() / 1_000_000_000
        if second != flow.replaySecond {
            flow.replaySecond = second
            flow.replayRecordsThisSecond = 0
        }
        while var job = flow.replays.first, flow.replayInflight.count < Self.replayWindow,
            flow.replayRecordsThisSecond < Self.replayRecordsPerSecond
        {
            do {
                guard let (mid, last) = try publishNext(
                    stream: job.request.stream, from: job.next, client: client, reader: reader, topics: topics, flow: flow,
                    through: job.last)
                else {
                    job.next = job.last + 1
                    flow.replays[0] = job
                    break
                }
                flow.replayInflight.insert(mid)
                flow.replayRecordsThisSecond += Int(last - job.next + 1)
                job.next = last + 1
            } catch {
                logger.warning("replay stopped", metadata: ["stream": "\(job.request.stream)", "error": "\(error)"])
                job.next = job.last + 1
            }
            if job.next > job.last {
                flow.replays.removeFirst()
                let payload = Contract.replayStatus(
                    site: settings.site, epoch: epoch, request: job.request, state: "done", prunedThrough: job.prunedThrough,
                    sending: nil)
                _ = try? client.publish(topic: topics.replayStatus, payload: payload, qos: 1, retain: false)
            } else {
                flow.replays[0] = job
            }
        }
    }
}
