import Foundation
import Hashing
import POCareContract
import MQTT
import Logging
import POCareCore
import SiteStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Publishes the site store to the Control Site's broker, from the store only.
///
/// One thread owns the MQTT client and a read-only store connection. It publishes each stream
/// in sequence order at QoS 1 with a bounded in-flight window, and advances a stream's
/// delivered watermark on PUBACK for the contiguous acknowledged prefix only. Event, site and
/// audit streams are filled into the window before telemetry, so alarms are never held behind
/// a telemetry backlog. After a restart it resumes at the watermarks; after a reconnect
/// libmosquitto sends the unacknowledged messages again (same sequence numbers).
public final class ControlSiteLink: Sendable {
    public struct Settings: Sendable {
        public var broker: BrokerOptions
        public var site: String
        public var topicRoot = "pocare/v1"
        /// Messages published and not yet acknowledged, at most.
        public var window = 64
        /// Samples per telemetry message, at most.
        public var telemetryBatch = 200
        /// Bytes per message, at most (a batch that would be larger is split).
        public var maxMessageBytes = 256 * 1024
        public var reconnectBackoff: ClosedRange<Duration> = .milliseconds(500)...(.seconds(30))
        /// The site's key: births and the last will are signed with it, so the Control Site
        /// knows a status is the site's own.
        public var identity: Ed25519.PrivateKey?
        /// The Control Site's public key: replay requests it signed for this site are answered
        /// on the Control Site's own quota (`ReplayAdmission`).
        public var controlSiteKey: Ed25519.PublicKey?
        /// Whether replay requests not proven to be the Control Site's are answered, on a smaller
        /// quota of their own, or refused with the reason.
        public var answerUnsignedReplay = false

        public init(broker: BrokerOptions, site: String) {
            self.broker = broker
            self.site = site
        }
    }

    public struct Statistics: Sendable {
        public var connected = false
        public var messagesPublished: UInt64 = 0
        public var messagesAcknowledged: UInt64 = 0
        public var lastDelivery: Date?
        /// Rows committed and not yet acknowledged, over all streams, at the last look.
        public var backlog: Int64 = 0
        public var lastError: String?
    }

    public let settings: Settings
    private let storePath: String
    private let store: SiteStore
    private let statusProvider: @Sendable () -> [Contract.DeviceStatus]
    private let retainedProvider: @Sendable () -> Contract.Retained
    /// Receives each register the Control Site publishes to the site, read and checked.
    private let registerHandler: @Sendable (ReceivedRegister) -> Void
    private let stats = Mutex(Statistics())
    private let stopRequested = Atomic<Bool>(false)
    private let thread = DedicatedThread(name: "control-site-link")
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// The store's epoch: every record message and the birth carry it.
    let epoch: String

    public init(
        settings: Settings, storePath: String, store: SiteStore,
        status: @escaping @Sendable () -> [Contract.DeviceStatus],
        retained: @escaping @Sendable () -> Contract.Retained = { Contract.Retained() },
        registers: @escaping @Sendable (ReceivedRegister) -> Void = { _ in }
    ) {
        self.retainedProvider = retained
        self.registerHandler = registers
        self.settings = settings
        self.storePath = storePath
        self.store = store
        self.statusProvider = status
        self.epoch = store.epoch
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    public var statistics: Statistics { stats.withLock { $0 } }

    public func start() {
        thread.start { [self] in run() }
    }

    /// Wakes the link at once (after a commit), so live records leave without waiting.
    public func notify() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Publishes the offline status, disconnects, and waits for the link thread to end.
    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        notify()
        thread.join()
    }

    private var stopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// Per-stream publishing state, all on the link thread.
    final class Flow {
        var next: [StreamName: Int64] = [:]
        var inflight: [Int32: (stream: StreamName, last: Int64)] = [:]
        var unacknowledged: [StreamName: AcknowledgedPrefix] = [:]
        /// Watermarks acknowledged since the store last heard of them: written once per turn
        /// of the loop, not once per PUBACK.
        var acknowledgedThrough: [StreamName: Int64] = [:]
        var acknowledgedCount = 0
        /// Per telemetry stream, the last sample published and its hash: the next message's
        /// `previous_hash` without a query.
        var heads: [StreamName: (seq: Int64, hash: String?)] = [:]
        let telemetry = TelemetryEncoder()
        var connected = false
        var offlineAcknowledged = false
        var offlineMessage: Int32 = -1
        var publishedStatus: [Contract.DeviceStatus]?
        /// Metadata fingerprints and spec fingerprints retained at the broker in this session.
        var publishedMetadata: [String: String] = [:]
        var publishedSpecs: Set<String> = []
        /// Replay requests as they arrived, placed by who sent them; answered on the next turn
        /// of the loop. The Control Site's have their own room, so a flood cannot push them out.
        var fromControlSite: [ReplayRequest] = []
        var fromOthers: [(request: ReplayRequest, refusal: String?)] = []
        var malformedReasons: [String] = []
        /// Requests not proven to be the Control Site's, and repeats of signed ones, so far.
        var unprovenRequests = 0
        var repeatedRequests = 0
        var replays: [ReplayJob] = []
        var replayInflight: Set<Int32> = []
        /// Records replayed in the current second, against `replayRecordsPerSecond`.
        var replaySecond: Int64 = 0
        var replayRecordsThisSecond = 0
        var malformedRequests = 0

        func arrived(_ arrival: ReplayAdmission.Arrival) {
            switch arrival {
            case .controlSite(let request):
                if fromControlSite.count < 64 { fromControlSite.append(request) }
            case .other(let request, let refusal):
                if fromOthers.count < 64 { fromOthers.append((request, refusal)) } else { unprovenRequests += 1 }
            case .repeated:
                repeatedRequests += 1
            case .malformed(let reason):
                if malformedReasons.count < 64 { malformedReasons.append(reason) } else { malformedRequests += 1 }
            }
        }
    }

    /// A replay being sent: the request and the next record to publish.
    struct ReplayJob {
        var request: ReplayRequest
        var next: Int64
        var last: Int64
        var prunedThrough: Int64?
        /// Whether the Control Site asked (its replays are sent before anyone else's).
        var fromControlSite: Bool
    }

    /// Replay messages in flight at most, and replayed records a second at most: a replay never
    /// crowds out live records.
    static let replayWindow = 8
    static let replayRecordsPerSecond = 20_000

    private func run() {
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
            return
        }
        client.setMaxInflight(settings.window)
        let flow = Flow()
        let inbox = RegisterInbox()
        let admission = ReplayAdmission(
            policy: .init(controlSiteKey: settings.controlSiteKey, answerOthers: settings.answerUnsignedReplay), site: settings.site)
        client.onEvent = { [self] event in
            switch event {
            case .connected(let rc):
                if rc == 0 {
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
                } else {
                    let reason = MQTTClient.connackText(rc)
                    logger.error("the broker refused the connection", metadata: ["reason": "\(reason)"])
                    stats.withLock { $0.lastError = "connection refused: \(reason)" }
                }
            case .disconnected:
                flow.connected = false
                stats.withLock { $0.connected = false }
            case .published(let mid):
                if mid == flow.offlineMessage { flow.offlineAcknowledged = true }
                if flow.replayInflight.remove(mid) != nil { return }
                guard let (stream, last) = flow.inflight.removeValue(forKey: mid) else { return }
                acknowledge(stream: stream, last: last, flow: flow)
            case .message(let topic, let payload):
                // Only the replay and register topics are subscribed; anything else is ignored.
                // Both are read on the next turn of the loop, never in the library's callback.
                if inbox.take(topic: topic, payload: payload, topics: topics) { return }
                guard topic == topics.replay else { return }
                // Read and its signature checked here (no store access), so it is placed by who sent it.
                flow.arrived(admission.classify(payload))
            }
        }

        var schedule = ReconnectSchedule(backoff: settings.reconnectBackoff)
        var lastMisc = MonotonicClock.now()
        var stopDeadline: Int64?
        while true {
            // On stop, keep publishing for a moment so the last records (the daemon's own stop
            // entry among them) leave now rather than at the next start.
            if stopping {
                if stopDeadline == nil { stopDeadline = MonotonicClock.now() + 1_000_000_000 }
                if flow.connected { _ = fill(client: client, reader: reader, topics: topics, flow: flow, logger: logger) }
                let published = (try? reader.streams())?.allSatisfy { (flow.next[$0.stream] ?? $0.deliveredSeq + 1) > $0.lastSeq } ?? true
                if !flow.connected || (published && flow.inflight.isEmpty) || MonotonicClock.now() > stopDeadline! { break }
            }
            if client.socket < 0 {
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
                        logger.warning(
                            "cannot reach the Control Site broker; records stay in the store",
                            metadata: ["error": "\(error.message)", "attempts": "\(failures)", "retry_in_ms": "\(retryIn / 1_000_000)"])
                    }
                }
                if client.socket < 0 {
                    waitForWake(upTo: max(0, min(wait, 1_000_000_000)))
                    continue
                }
            }
            if flow.connected {
                schedule.connected()
                // Metadata and specs first, so the birth that names them finds them retained.
                publishRetained(client: client, topics: topics, flow: flow, logger: logger)
                // The retained status follows the site: birth on connect, again on any change.
                let devices = statusProvider()
                if devices != flow.publishedStatus {
                    let birth = signed(Contract.status(site: settings.site, online: true, time: Date(), devices: devices, epoch: epoch))
                    if (try? client.publish(topic: topics.status, payload: birth, qos: 1, retain: true)) != nil {
                        flow.publishedStatus = devices
                    }
                }
                let caughtUp = fill(client: client, reader: reader, topics: topics, flow: flow, logger: logger)
                takeReplayRequests(client: client, reader: reader, topics: topics, flow: flow, admission: admission, logger: logger)
                inbox.deliver(site: settings.site, to: registerHandler)
                // Replays go after live records: only when everything committed has been sent.
                if caughtUp { serveReplays(client: client, reader: reader, topics: topics, flow: flow, logger: logger) }
            }
            let alive = client.runLoop(milliseconds: flow.connected ? 50 : 200, wake: wakeRead)
            recordDeliveries(flow: flow)
            drainWake()
            if MonotonicClock.now() - lastMisc > 500_000_000 {
                _ = client.loopMisc()
                lastMisc = MonotonicClock.now()
            }
            if !alive && client.socket < 0 {
                if flow.connected || schedule.failures == 0 {
                    let detail = client.lastLoggedError.map { " (\($0))" } ?? ""
                    logger.warning("lost the Control Site broker\(detail); publishing resumes at the watermark when it is back")
                }
                flow.connected = false
                stats.withLock { $0.connected = false }
                schedule.lost()
            }
        }

        // Say goodbye: the retained status becomes offline before the link goes.
        if flow.connected, let mid = try? client.publish(topic: topics.status, payload: signed(Contract.status(
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
        logger.info("control site link stopped")
    }

    /// A status signed with the site's key (unchanged without one).
    private func signed(_ status: [UInt8]) -> [UInt8] {
        guard let key = settings.identity else { return status }
        do { return try SignedStatus.sign(status, with: key, at: Date()) } catch {
            Logger(label: "pocare.link").error("cannot sign the status; it goes unsigned", metadata: ["error": "\(error)"])
            return status
        }
    }

    /// Publishes each device's metadata and each spec, retained, when it is new in this session
    /// or changed; clears the metadata of a device the site no longer has.
    private func publishRetained(client: MQTTClient, topics: Topics, flow: Flow, logger: Logger) {
        let retained = retainedProvider()
        flow.telemetry.currentLabels = retained.labels
        for meta in retained.metadata where flow.publishedMetadata[meta.key] != meta.fingerprint {
            guard (try? client.publish(topic: topics.metadata(meta.key), payload: meta.payload, qos: 1, retain: true)) != nil else { return }
            flow.publishedMetadata[meta.key] = meta.fingerprint
            logger.info("device metadata published", metadata: ["device": "\(meta.key)", "fingerprint": "\(meta.fingerprint)"])
        }
        let current = Set(retained.metadata.map(\.key))
        for device in flow.publishedMetadata.keys where !current.contains(device) {
            // An empty retained message removes the retained one.
            guard (try? client.publish(topic: topics.metadata(device), payload: [], qos: 1, retain: true)) != nil else { return }
            flow.publishedMetadata[device] = nil
        }
        for spec in retained.specs where !flow.publishedSpecs.contains(spec.fingerprint) {
            let payload = Contract.spec(site: settings.site, spec: spec)
            guard (try? client.publish(topic: topics.spec(spec.fingerprint), payload: payload, qos: 1, retain: true)) != nil else { return }
            flow.publishedSpecs.insert(spec.fingerprint)
        }
    }

    /// Marks a message acknowledged and advances the stream's watermark over the contiguous
    /// acknowledged prefix. A later message acknowledged before an earlier one waits.
    private func acknowledge(stream: StreamName, last: Int64, flow: Flow) {
        if let watermark = flow.unacknowledged[stream]?.acknowledged(through: last) {
            flow.acknowledgedThrough[stream] = watermark
        }
        flow.acknowledgedCount += 1
    }

    /// Hands the watermarks acknowledged since the last call to the store, one per stream.
    private func recordDeliveries(flow: Flow) {
        guard flow.acknowledgedCount > 0 else { return }
        for (stream, watermark) in flow.acknowledgedThrough { store.markDelivered(stream: stream, through: watermark) }
        flow.acknowledgedThrough.removeAll(keepingCapacity: true)
        let count = flow.acknowledgedCount
        flow.acknowledgedCount = 0
        stats.withLock {
            $0.messagesAcknowledged += UInt64(count)
            $0.lastDelivery = Date()
        }
    }

    /// Publishes what is waiting, in sequence order per stream, until the window is full:
    /// event, site and audit streams first, then telemetry.
    /// Returns whether every committed record has been published.
    @discardableResult
    private func fill(client: MQTTClient, reader: StoreReader, topics: Topics, flow: Flow, logger: Logger) -> Bool {
        guard flow.inflight.count < settings.window, let streams = try? reader.streams() else { return false }
        var backlog: Int64 = 0
        var published: UInt64 = 0
        defer { if published > 0 { stats.withLock { $0.messagesPublished += published } } }
        let ordered = streams.filter { !$0.stream.isTelemetry } + streams.filter { $0.stream.isTelemetry }
        for stream in ordered {
            var next = flow.next[stream.stream] ?? (stream.deliveredSeq + 1)
            backlog += stream.lastSeq - stream.deliveredSeq
            do {
                while flow.inflight.count < settings.window && next <= stream.lastSeq {
                    let sent = try publishNext(
                        stream: stream.stream, from: next, client: client, reader: reader, topics: topics, flow: flow)
                    guard let (mid, last) = sent else { break }
                    flow.inflight[mid] = (stream.stream, last)
                    flow.unacknowledged[stream.stream, default: AcknowledgedPrefix()].published(through: last)
                    published += 1
                    next = last + 1
                }
            } catch {
                logger.warning("publishing stopped for now", metadata: ["stream": "\(stream.stream)", "error": "\(error)"])
                flow.next[stream.stream] = next
                return false
            }
            flow.next[stream.stream] = next
        }
        stats.withLock { $0.backlog = backlog }
        return streams.allSatisfy { (flow.next[$0.stream] ?? $0.deliveredSeq + 1) > $0.lastSeq }
    }

    /// Publishes the message that starts at `seq`; returns its message id and last sequence number.
    func publishNext(
        stream: StreamName, from seq: Int64, client: MQTTClient, reader: StoreReader, topics: Topics, flow: Flow,
        through limit: Int64 = .max
    ) throws -> (Int32, Int64)? {
        let topic = topics.topic(for: stream)
        switch stream {
        case .audit:
            guard let entry = try reader.auditEntries(after: seq - 1, limit: 1).first else { return nil }
            return (try client.publish(topic: topic, payload: Contract.audit(site: settings.site, entry: entry, epoch: epoch)), entry.seq)
        case .telemetry(let device):
            // Written straight from the stored rows; the previous hash from the last message
            // of the stream when it ended just before.
            let head = flow.heads[stream]
            guard let message = try flow.telemetry.message(
                site: settings.site, device: device, epoch: epoch, sent: Date(), reader: reader, after: seq - 1, through: limit,
                limit: settings.telemetryBatch, maxBytes: settings.maxMessageBytes,
                previousHash: { first throws in
                    if let head, head.seq == first - 1 { return head.hash }
                    return try reader.hash(before: first, stream: stream)
                })
            else { return nil }
            let mid = try client.publish(topic: topic, payload: message.payload)
            flow.heads[stream] = (message.last, message.lastHash)
            return (mid, message.last)
        case .events, .siteEvents:
            guard let event = try reader.events(stream: stream, after: seq - 1, limit: 1).first else { return nil }
            return (try client.publish(topic: topic, payload: Contract.event(site: settings.site, event: event, epoch: epoch)), event.seq)
        }
    }

    private func waitForWake(upTo nanoseconds: Int64) {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, Int32(nanoseconds / 1_000_000))
        drainWake()
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }
}

