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
    let storePath: String
    private let store: SiteStore
    let statusProvider: @Sendable () -> [Contract.DeviceStatus]
    private let retainedProvider: @Sendable () -> Contract.Retained
    /// Receives each register the Control Site publishes to the site, read and checked.
    private let registerHandler: @Sendable (ReceivedRegister) -> Void
    let stats = Mutex(Statistics())
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

    private func run() {
        guard let opened = openSession() else { return }
        let (session, reader) = opened
        let client = session.client
        let flow = session.flow
        var schedule = ReconnectSchedule(backoff: settings.reconnectBackoff)
        var lastMisc = MonotonicClock.now()
        var stopDeadline: Int64?
        while true {
            // On stop, keep publishing for a moment so the last records (the daemon's own stop
            // entry among them) leave now rather than at the next start.
            if stopping {
                let deadline = stopDeadline ?? MonotonicClock.now() + 1_000_000_000
                stopDeadline = deadline
                if finishedStopping(session, reader: reader, deadline: deadline) { break }
            }
            if client.socket < 0 && !reconnect(session, schedule: &schedule) { continue }
            if flow.connected { publishTurn(session, reader: reader, schedule: &schedule) }
            let alive = client.runLoop(milliseconds: flow.connected ? 50 : 200, wake: wakeRead)
            recordDeliveries(flow: flow)
            drainWake()
            if MonotonicClock.now() - lastMisc > 500_000_000 {
                _ = client.loopMisc()
                lastMisc = MonotonicClock.now()
            }
            if !alive && client.socket < 0 { lostBroker(session, schedule: &schedule) }
        }
        sayGoodbye(session)
        // The event handler holds the session and the session the client: without this the
        // pair outlives the link, and with it libmosquitto's handle (a reload makes a new link).
        client.onEvent = { _ in }
    }

    /// One turn while connected: retained metadata and specs, the status, live records, then
    /// replay requests, the Control Site's registers and, once caught up, replays.
    private func publishTurn(_ session: Session, reader: StoreReader, schedule: inout ReconnectSchedule) {
        let (client, flow, topics, logger) = (session.client, session.flow, session.topics, session.logger)
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
        takeReplayRequests(client: client, reader: reader, topics: topics, flow: flow, admission: session.admission, logger: logger)
        session.inbox.deliver(site: settings.site, to: registerHandler)
        // Replays go after live records: only when everything committed has been sent.
        if caughtUp { serveReplays(client: client, reader: reader, topics: topics, flow: flow, logger: logger) }
    }

    /// A status signed with the site's key (unchanged without one).
    func signed(_ status: [UInt8]) -> [UInt8] {
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
    func acknowledge(stream: StreamName, last: Int64, flow: Flow) {
        if let watermark = flow.unacknowledged[stream]?.acknowledged(through: last) {
            flow.acknowledgedThrough[stream] = watermark
        }
        flow.acknowledgedCount += 1
    }

    /// Hands the watermarks acknowledged since the last call to the store, one per stream.
    func recordDeliveries(flow: Flow) {
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
    func fill(client: MQTTClient, reader: StoreReader, topics: Topics, flow: Flow, logger: Logger) -> Bool {
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

    func waitForWake(upTo nanoseconds: Int64) {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, Int32(nanoseconds / 1_000_000))
        drainWake()
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }
}

