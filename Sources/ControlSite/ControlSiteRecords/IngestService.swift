import POCareContract
import POCareCore
import Foundation
import Hashing
import MQTT
import Logging
import ServiceLifecycle
import ServiceSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `pocare-control run`: subscribes to every site's records and stores them in PostgreSQL.
///
/// Threads of its own, so no blocking C call runs on the cooperative pool: the MQTT thread
/// owns the libmosquitto client and parses what arrives; the writer threads (`IngestPipeline`)
/// own the database connections and write in batches. libmosquitto acknowledges a QoS 1 message to
/// the broker before handing it over (2.0.x), so a message in the queue when the process is
/// killed is lost here; the replay coordinator asks the site for it again (`ReplayCoordinator`).
/// A stop writes everything queued first, waiting at most a few seconds for a database that is
/// away; what it could not write is logged, and the sites' stores still hold it (the next start
/// asks for every stream's tail).
public final class IngestService: Service, Sendable {
    public struct Settings: Sendable {
        public var broker: BrokerOptions
        public var topicRoot = "pocare/v1"
        /// MQTT 5 shared subscription group: instances in one group split the messages.
        public var sharedGroup: String?
        public var database: String
        /// Messages written per transaction at most.
        public var batchMessages = 500
        /// Messages held in memory at most before reading from the broker pauses.
        public var queueCapacity = 5_000
        /// Writer threads, each with its own database connection (streams are spread over them).
        public var writers = 2
        /// A gap still open after this long is logged as an error (once).
        public var gapReportAfter: Duration = .seconds(300)
        /// Samples older than this, with no gap below them, are kept as chunks (`SampleCompaction`).
        public var compactAfter: Duration = .seconds(3600)
        /// How often settled samples are looked for; zero: never (`pocare-control compact` only).
        public var compactEvery: Duration = .seconds(600)
        /// A gap still open this long is asked of its site again; nil: never ask sites to replay.
        public var replayAfter: Duration? = .seconds(30)
        /// The sites taken as sites, and their keys (control.yaml `sites:`).
        public var siteKeys: SiteKeyRegister = .open
        /// The sites whose messages are taken (`sites:`); a message under any other site is
        /// refused and kept apart. Nil: every site (a Control Site that lists none).
        public var registeredSites: Set<String>?
        /// The sites this instance takes (`ingest:`); messages of any other site are dropped
        /// before anything is written: another instance takes them.
        public var share = IngestShare.everySite
        /// What a message of the contract may be at most.
        public var limits = ContractLimits.standard
        /// How far beyond a stream's known reach a record may be numbered (`ingest.max_sequence_jump`).
        public var sequenceJumpLimit = SequenceJumpLimit.standard
        /// The Control Site's key (control.yaml `identity_key`): it signs every replay request,
        /// so a site answers them on the Control Site's own quota (`SignedReplayRequest`).
        public var identity: Ed25519.PrivateKey?

        public init(broker: BrokerOptions, database: String) {
            self.broker = broker
            self.database = database
        }

        public var subscriptions: [String] { share.subscriptions(root: topicRoot, sharedGroup: sharedGroup) }
    }

    public struct Statistics: Sendable, Equatable {
        public var messages = 0
        public var inserted = 0
        public var duplicates = 0
        public var conflicts = 0
        public var rejected = 0
        public var abandoned = 0
    }

    private let settings: Settings
    private let logger: Logger
    private let replay: ReplayCoordinator?
    private let registers: RegisterPublisher?
    private let pipeline = Mutex<IngestPipeline?>(nil)
    private let stopRequested = Atomic<Bool>(false)
    private let messages = Atomic<Int>(0)
    /// Messages of sites another instance takes, dropped on arrival.
    private let notTaken = Atomic<Int>(0)
    private let thread = DedicatedThread(name: "ingest-mqtt")
    /// When the MQTT thread last turned its loop, and whether the broker has it connected.
    private let lastTurn = Atomic<Int64>(0)
    private let brokerConnected = Atomic<Bool>(false)
    /// Per site, the messages and records received (before de-duplication), for the metrics.
    private let received = Mutex<[String: (messages: Int, records: Int)]>([:])

    /// `replay` and `registers`, when given, publish their requests and registers through this
    /// instance's MQTT client.
    public init(settings: Settings, logger: Logger, replay: ReplayCoordinator? = nil, registers: RegisterPublisher? = nil) {
        self.settings = settings
        self.logger = logger
        self.replay = replay
        self.registers = registers
    }

    /// The sites this instance takes.
    public var share: IngestShare { settings.share }

    public var currentStatistics: Statistics {
        let written = pipeline.withLock { $0 }?.currentStatistics ?? .init()
        return Statistics(messages: messages.load(ordering: .relaxed), inserted: written.inserted, duplicates: written.duplicates,
                          conflicts: written.conflicts, rejected: written.rejected, abandoned: written.abandoned)
    }

    /// Connects to the database and migrates it, and checks the broker settings: fails at once
    /// if any of them fails, before the service runs. Blocks (libpq): call it from a thread of
    /// the caller's, not from a task.
    public func prepare() throws {
        let connection = try PostgresConnection(settings.database)
        try ControlSchema.migrate(connection, logger: logger)
        _ = try MQTTClient(options: settings.broker)
    }

    /// For the service watchdog: healthy while the MQTT thread turns its loop and no writer
    /// holding messages has been silent for `limit` (a thread blocked for good in a C call is
    /// not), whatever the broker and the database answer: an instance that waits for them is alive.
    public func health(within limit: Duration) -> (healthy: Bool, status: String) {
        guard let pipeline = pipeline.withLock({ $0 }) else { return (true, "starting") }
        let now = MonotonicClock.now()
        let turned = now - lastTurn.load(ordering: .relaxed) <= limit.nanoseconds
        let writers = pipeline.health(within: limit)
        let s = currentStatistics
        let status = "broker \(brokerConnected.load(ordering: .relaxed) ? "connected" : "NOT connected"), "
            + "\(s.messages) messages, \(s.inserted) records stored, \(pipeline.queued) queued"
            + (writers.retrying > 0 ? ", database NOT answering" : "") + (turned ? "" : ", MQTT thread NOT turning")
            + (writers.stuck > 0 ? ", \(writers.stuck) writer(s) stuck" : "")
        return (turned && writers.stuck == 0, status)
    }

    /// What ingest reports to Prometheus, from memory (no database call).
    public func metricFamilies() -> [MetricFamily] {
        let s = currentStatistics
        let perSite = received.withLock { $0 }.sorted { $0.key < $1.key }
        let pipeline = pipeline.withLock { $0 }
        let latency = pipeline?.writeLatency ?? (count: 0, seconds: 0)
        return [
            MetricFamily("pocare_control_broker_connected", .gauge, help: "1 while this instance is connected to the broker.",
                         samples: [.init(brokerConnected.load(ordering: .relaxed) ? 1 : 0)]),
            MetricFamily("pocare_control_messages_received_total", .counter, help: "Record messages received per site (before de-duplication).",
                         by: "site", perSite.map { ($0.key, Double($0.value.messages)) }),
            MetricFamily("pocare_control_records_received_total", .counter, help: "Records received per site (before de-duplication).",
                         by: "site", perSite.map { ($0.key, Double($0.value.records)) }),
            MetricFamily("pocare_control_records_total", .counter, help: "Records written by this instance, by outcome.", samples: [
                .init(Double(s.inserted), labels: [("outcome", "inserted")]), .init(Double(s.duplicates), labels: [("outcome", "duplicate")]),
                .init(Double(s.conflicts), labels: [("outcome", "conflicting_duplicate")]), .init(Double(s.rejected), labels: [("outcome", "rejected")]),
            ]),
            MetricFamily("pocare_control_ingest_shard", .gauge, help: "This instance's shard (ingest.shard k/n; 1/1 without one), 1.",
                         samples: [.init(1, labels: [("shard", "\(settings.share.shard?.index ?? 1)"), ("shards", "\(settings.share.shard?.count ?? 1)")])]),
            MetricFamily("pocare_control_ingest_sites", .gauge, help: "Sites this instance takes, where known (ingest.sites or the registered sites of its shard).",
                         samples: settings.share.known.map { [.init(Double($0.count))] } ?? []),
            MetricFamily("pocare_control_messages_not_taken_total", .counter, help: "Messages of sites another instance takes, dropped before anything was written.",
                         samples: [.init(Double(notTaken.load(ordering: .relaxed)))]),
            MetricFamily("pocare_control_ingest_queue_messages", .gauge, help: "Messages received and waiting for a writer.",
                         samples: [.init(Double(pipeline?.queued ?? 0))]),
            MetricFamily("pocare_control_database_write_seconds", .summary, help: "Write transactions of the ingest writers: total time and count.",
                         samples: [.init(latency.seconds, suffix: "_sum"), .init(Double(latency.count), suffix: "_count")]),
        ]
    }

    /// Reads from the broker and writes to the database until the service group shuts down.
    public func run() async {
        let pipeline = IngestPipeline(
            database: settings.database, writers: settings.writers, batchMessages: settings.batchMessages,
            queueCapacity: settings.queueCapacity, topicRoot: settings.topicRoot, logger: logger, siteKeys: settings.siteKeys,
            sequenceJumpLimit: settings.sequenceJumpLimit)
        if !settings.siteKeys.isEnforced {
            logger.warning("control.yaml registers no sites: every site the broker admits is taken, and no record can be attributed")
        }
        self.pipeline.withLock { $0 = pipeline }
        thread.start { [self] in
            do {
                runSubscriber(try MQTTClient(options: settings.broker), pipeline)
            } catch {
                logger.critical("cannot create the MQTT client", metadata: ["error": "\(error)"])
            }
        }
        // Throws only when the task is cancelled, which is the other way a service is told to stop.
        try? await gracefulShutdown()
        logger.info("stopping: writing what is queued")
        stopRequested.store(true, ordering: .relaxed)
        _ = await thread.joined(within: .seconds(1))
        pipeline.close(retryingFor: .seconds(3))
        let finished = await pipeline.finished(within: .milliseconds(3_500))
        let s = currentStatistics
        let unwritten = s.abandoned + pipeline.queued
        if !finished || unwritten > 0 {
            logger.error("stopped with messages not written; the sites' stores hold them, and the next start asks for them again",
                         metadata: ["not_written": "\(unwritten)"])
        }
        logger.info("stopped", metadata: ["messages": "\(s.messages)", "inserted": "\(s.inserted)", "duplicates": "\(s.duplicates)"])
    }

    /// A replay request signed for the site its topic names (unchanged without a key).
    private func signed(_ request: ReplayCoordinator.Outgoing) throws -> [UInt8] {
        guard let key = settings.identity else { return request.payload }
        let prefix = settings.topicRoot + "/", suffix = "/replay"
        guard request.topic.hasPrefix(prefix), request.topic.hasSuffix(suffix), request.topic.count > prefix.count + suffix.count else {
            throw SignedReplayRequest.Failure(description: "'\(request.topic)' is not a site's replay topic")
        }
        let site = request.topic.dropFirst(prefix.count).dropLast(suffix.count)
        return try SignedReplayRequest.sign(request.payload, site: String(site), with: key, at: Date())
    }

    private func runSubscriber(_ client: MQTTClient, _ pipeline: IngestPipeline) {
        client.setMaxInflight(settings.batchMessages)
        var connected = false
        var closedBeforeAccepted = 0
        var refused = 0
        // A refused message is logged the first time and every thousandth after: a flood must not flood the journal.
        func refuse(_ failure: ContractMessage.Failure, _ payload: [UInt8]) {
            refused += 1
            if refused == 1 || refused.isMultiple(of: 1000) {
                logger.warning("refused a message", metadata: ["reason": "\(failure)", "refused": "\(refused)"])
            }
            pipeline.submit(.rejected(failure, bytes: payload.count, excerpt: String(decoding: payload.prefix(200), as: UTF8.self)))
        }
        client.onEvent = { [self, unowned client] event in
            switch event {
            case .connected(let rc):
                guard rc == 0 else {
                    logger.error("the broker refused the connection", metadata: ["reason": "\(MQTTClient.connackText(rc))"])
                    return
                }
                connected = true
                closedBeforeAccepted = 0
                subscribe(client)
            case .disconnected(let rc):
                let accepted = connected
                connected = false
                guard rc != 0 else { break }
                if accepted {
                    logger.warning("lost the broker connection", metadata: ["code": "\(rc)"])
                } else {
                    // Never accepted (a certificate the broker does not trust, say): logged as a
                    // broker not reached, the first time and every tenth after, as failed connects are.
                    closedBeforeAccepted += 1
                    if closedBeforeAccepted == 1 || closedBeforeAccepted.isMultiple(of: 10) {
                        logger.warning("cannot reach the broker; retrying", metadata: [
                            "error": "\(client.closedBeforeAccepted(rc))", "attempts": "\(closedBeforeAccepted)",
                        ])
                    }
                }
            case .message(let topic, let payload):
                receive(topic: topic, payload: payload, into: pipeline, refuse: refuse)
            case .published:
                break
            }
        }
        serve(client, pipeline, connected: { connected })
        client.disconnect()
    }

    /// A new connection: every subscription again, and every site's registers again (a broker
    /// without persistence forgets retained messages).
    private func subscribe(_ client: MQTTClient) {
        registers?.connectionRestarted()
        do {
            for pattern in settings.subscriptions { try client.subscribe(pattern, qos: 1) }
            logger.info("subscribed", metadata: [
                "pattern": "\(settings.subscriptions.joined(separator: " "))", "client": "\(settings.broker.clientId)",
                "share": "\(settings.share)",
            ])
        } catch {
            logger.error("cannot subscribe", metadata: ["error": "\(error)"])
        }
    }

    /// One message from the broker: dropped if it is this instance's own register or another
    /// instance's site, refused if its site is not registered, handed to replay if it answers a
    /// replay request, and otherwise parsed and queued for the writers.
    private func receive(
        topic: String, payload: [UInt8], into pipeline: IngestPipeline, refuse: (ContractMessage.Failure, [UInt8]) -> Void
    ) {
        let answerPrefix = settings.topicRoot + "/", answerSuffix = "/replay/status"
        // The registers this Control Site publishes come back through its own subscription.
        if RegisterPublisher.isRegisterTopic(topic, root: settings.topicRoot) { return }
        let claimed = topic.hasPrefix(answerPrefix) ? topic.dropFirst(answerPrefix.count).prefix { $0 != "/" } : ""
        // Another instance's site (a persistent session may also hold an earlier, wider subscription).
        if !claimed.isEmpty, !settings.share.takes(String(claimed)) {
            notTaken.add(1, ordering: .relaxed)
            return
        }
        if let registered = settings.registeredSites, !claimed.isEmpty, !registered.contains(String(claimed)) {
            messages.add(1, ordering: .relaxed)
            refuse(.malformed(site: String(claimed), topic: topic, reason: "'\(claimed)' is not a registered site"), payload)
            return
        }
        // A site's answer to a replay request: bookkeeping, not a record.
        if topic.hasPrefix(answerPrefix) && topic.hasSuffix(answerSuffix) {
            let site = topic.dropFirst(answerPrefix.count).dropLast(answerSuffix.count)
            if !site.isEmpty && !site.contains("/") { replay?.receive(site: String(site), payload: payload) }
            return
        }
        messages.add(1, ordering: .relaxed)
        do throws(ContractMessage.Failure) {
            let message = try ContractMessage.parse(topic: topic, payload: payload, root: settings.topicRoot, limits: settings.limits)
            if case .records(let records) = message {
                received.withLock { $0[records.site, default: (0, 0)].messages += 1; $0[records.site, default: (0, 0)].records += records.records.count }
            }
            pipeline.submit(.message(message))
        } catch .unknownTopic {
            logger.debug("ignored a topic outside the contract", metadata: ["topic": "\(topic)"])
        } catch {
            refuse(error, payload)
        }
    }

    /// The subscriber thread's turns until stop: reconnect when due, publish what replay and the
    /// registers have queued, and read from the broker only while the writers have room.
    private func serve(_ client: MQTTClient, _ pipeline: IngestPipeline, connected: () -> Bool) {
        var schedule = ReconnectSchedule()
        while !stopRequested.load(ordering: .relaxed) {
            lastTurn.store(MonotonicClock.now(), ordering: .relaxed)
            brokerConnected.store(connected(), ordering: .relaxed)
            if client.socket < 0 {
                switch schedule.attempt(client) {
                case .started: break
                case .notDue(let nanoseconds):
                    usleep(UInt32(min(nanoseconds / 1_000, 100_000)))
                    continue
                case .failed(let error, let failures, _, let worthLogging):
                    if worthLogging {
                        logger.warning("cannot reach the broker; retrying", metadata: ["error": "\(error)", "attempts": "\(failures)"])
                    }
                    continue
                }
            }
            if connected() { schedule.connected() }
            publishOutgoing(client)
            // The database is behind: let the broker hold the messages instead of memory.
            if !pipeline.waitForRoom(timeout: 0.1) {
                _ = client.loopMisc()
                continue
            }
            if !client.runLoop(milliseconds: 100) && client.socket < 0 { schedule.lost() }
        }
    }

    /// Replay requests (signed) and registers queued since the last turn.
    private func publishOutgoing(_ client: MQTTClient) {
        for request in replay?.takeOutgoing() ?? [] {
            do { _ = try client.publish(topic: request.topic, payload: try signed(request), qos: 1) } catch {
                // Unanswered requests are asked again after a while.
                logger.warning("cannot publish a replay request", metadata: ["topic": "\(request.topic)", "error": "\(error)"])
            }
        }
        for register in registers?.takeOutgoing() ?? [] {
            do {
                _ = try client.publish(topic: register.topic, payload: register.payload, qos: 1, retain: true)
                registers?.published(topic: register.topic, hash: register.hash)
            } catch {
                // Still wanted: published again on the next turn.
                logger.warning("cannot publish a register", metadata: ["topic": "\(register.topic)", "error": "\(error)"])
                break
            }
        }
    }
}
