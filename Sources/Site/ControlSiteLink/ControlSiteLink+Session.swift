import Foundation
import Hashing
import POCareContract
import MQTT
import Logging
import POCareCore
import SiteStore

// The link thread's broker session: opening it, the library's events, reconnecting, and
// the goodbye when the link stops.
extension ControlSiteLink {
    /// The broker session the link thread runs: what the library's callbacks reach.
    struct Session {
        let client: MQTTClient
        let topics: Topics
        let flow: Flow
        let inbox: RegisterInbox
        let admission: ReplayAdmission
        let logger: Logger
    }

    /// Opens the store reader and the broker client (with the signed offline status as its
    /// last will) and routes the client's events; nil if either cannot be opened.
    func openSession() -> (Session, StoreReader)? {
        var logger = Logger(label: "pocare.link")
        logger[metadataKey: "broker"] = "\(settings.broker.host):\(settings.broker.port)"
        let topics = Topics(site: settings.site, root: settings.topicRoot)
        let reader: StoreReader
        let client: MQTTClient
        do {
            reader = try StoreReader(path: storePath)
            client = try MQTTClient(options: settings.broker, will: (topics.status, signed(Contract.offline(site: settings.site))))
        } catch {
            logger.error("control site link cannot start", metadata: ["error": "\(error)"])
            stats.withLock { $0.lastError = "\(error)" }
            return nil
        }
        client.setMaxInflight(settings.window)
        let admission = ReplayAdmission(
            policy: .init(controlSiteKey: settings.controlSiteKey, answerOthers: settings.answerUnsignedReplay), site: settings.site)
        let session = Session(
            client: client, topics: topics, flow: Flow(), inbox: RegisterInbox(), admission: admission, logger: logger)
        client.onEvent = { [self] event in handle(event, in: session) }
        return (session, reader)
    }

    /// What the library reports, on the link thread inside its loop: connections, PUBACKs and
    /// the messages of the subscribed topics.
    func handle(_ event: MQTTClient.Event, in session: Session) {
        let flow = session.flow
        switch event {
        case .connected(let rc):
            if rc == 0 {
                sessionStarted(session)
            } else {
                let reason = MQTTClient.connackText(rc)
                session.logger.error("the broker refused the connection", metadata: ["reason": "\(reason)"])
                stats.withLock { $0.lastError = "connection refused: \(reason)" }
            }
        case .disconnected(let rc):
            let accepted = flow.connected
            flow.connected = false
            stats.withLock { $0.connected = false }
            // Closed before the broker accepted it (under TLS 1.3 a refused client certificate
            // arrives only now): the status says why, and the log says it once per reason.
            if rc != 0 && !accepted {
                let error = session.client.closedBeforeAccepted(rc).description
                let changed = stats.withLock { stats in
                    defer { stats.lastError = error }
                    return stats.lastError != error
                }
                if changed { session.logger.warning("cannot reach the Control Site broker", metadata: ["error": "\(error)"]) }
            }
        case .published(let mid):
            if mid == flow.offlineMessage { flow.offlineAcknowledged = true }
            if flow.replayInflight.remove(mid) != nil { return }
            guard let (stream, last) = flow.inflight.removeValue(forKey: mid) else { return }
            acknowledge(stream: stream, last: last, flow: flow)
        case .message(let topic, let payload):
            // Only the replay and register topics are subscribed; anything else is ignored.
            // Both are read on the next turn of the loop, never in the library's callback.
            if session.inbox.take(topic: topic, payload: payload, topics: session.topics) { return }
            guard topic == session.topics.replay else { return }
            // Read and its signature checked here (no store access), so it is placed by who sent it.
            flow.arrived(session.admission.classify(payload))
        }
    }

    /// A new broker session: everything retained is published again, and the subscriptions made.
    func sessionStarted(_ session: Session) {
        let (client, flow, topics, logger) = (session.client, session.flow, session.topics, session.logger)
        flow.connected = true
        stats.withLock {
            $0.connected = true
            $0.lastError = nil
        }
        logger.notice("connected to the Control Site broker", metadata: ["client_id": "\(settings.broker.clientId)"])
        flow.publishedStatus = nil  // a new session gets a fresh birth
        flow.publishedMetadata = [:]
        flow.publishedSpecs = []
        do { try client.subscribe(topics.replay, qos: 1) } catch {
            logger.warning("cannot subscribe to replay requests", metadata: ["error": "\(error)"])
        }
        // The Control Site's decisions, retained: each arrives again on every connect.
        do { try client.subscribe(topics.registers, qos: 1) } catch {
            logger.warning("cannot subscribe to the Control Site's registers", metadata: ["error": "\(error)"])
        }
    }

    /// While stopping: publishes what it can; true once everything committed has been sent and
    /// acknowledged, the broker is gone, or the deadline has passed.
    func finishedStopping(_ session: Session, reader: StoreReader, deadline: Int64) -> Bool {
        let flow = session.flow
        if flow.connected { _ = fill(client: session.client, reader: reader, topics: session.topics, flow: flow, logger: session.logger) }
        let published = (try? reader.streams())?.allSatisfy { (flow.next[$0.stream] ?? $0.deliveredSeq + 1) > $0.lastSeq } ?? true
        return !flow.connected || (published && flow.inflight.isEmpty) || MonotonicClock.now() > deadline
    }

    /// Without a socket: tries to connect when the schedule says so. Returns whether there is
    /// a socket now; if not, it has waited (a wake-up or the retry delay, at most a second).
    func reconnect(_ session: Session, schedule: inout ReconnectSchedule) -> Bool {
        let (client, flow) = (session.client, session.flow)
        if flow.connected {
            flow.connected = false
            stats.withLock { $0.connected = false }
        }
        var wait: Int64 = 0
        switch schedule.attempt(client) {
        case .started: break
        case .notDue(let nanoseconds): wait = nanoseconds
        case .failed(let error, let failures, let retryIn, let worthLogging):
            wait = retryIn
            stats.withLock { $0.lastError = error.message }
            if worthLogging {
                session.logger.warning(
                    "cannot reach the Control Site broker; records stay in the store",
                    metadata: ["error": "\(error.message)", "attempts": "\(failures)", "retry_in_ms": "\(retryIn / 1_000_000)"])
            }
        }
        if client.socket < 0 {
            waitForWake(upTo: max(0, min(wait, 1_000_000_000)))
            return false
        }
        return true
    }

    func lostBroker(_ session: Session, schedule: inout ReconnectSchedule) {
        let flow = session.flow
        if flow.connected || schedule.failures == 0 {
            let detail = session.client.lastLoggedError.map { " (\($0))" } ?? ""
            session.logger.warning("lost the Control Site broker\(detail); publishing resumes at the watermark when it is back")
        }
        flow.connected = false
        stats.withLock { $0.connected = false }
        schedule.lost()
    }

    /// Says goodbye: the retained status becomes offline before the link goes, and the last
    /// acknowledgements reach the store.
    func sayGoodbye(_ session: Session) {
        let (client, flow) = (session.client, session.flow)
        if flow.connected, let mid = try? client.publish(topic: session.topics.status, payload: signed(Contract.status(
            site: settings.site, online: false, time: Date(), devices: statusProvider(), epoch: epoch)), qos: 1, retain: true)
        {
            flow.offlineMessage = mid
            let deadline = MonotonicClock.now() + 1_000_000_000
            while !flow.offlineAcknowledged && MonotonicClock.now() < deadline && client.runLoop(milliseconds: 50) {}
        }
        recordDeliveries(flow: flow)
        client.disconnect()
        _ = client.runLoop(milliseconds: 10)
        recordDeliveries(flow: flow)
        session.logger.info("control site link stopped")
    }
}
