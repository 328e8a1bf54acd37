import ControlSiteLink
import Foundation
import Logging
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
/// A clean stop writes everything queued first.
public final class IngestService: @unchecked Sendable {
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
        /// A gap still open this long is asked of its site again; nil: never ask sites to replay.
        public var replayAfter: Duration? = .seconds(30)

        public init(broker: BrokerOptions, database: String) {
            self.broker = broker
            self.database = database
        }

        public var subscription: String {
            let pattern = "\(topicRoot)/+/#"
            return sharedGroup.map { "$share/\($0)/\(pattern)" } ?? pattern
        }
    }

    public struct Statistics: Sendable, Equatable {
        public var messages = 0
        public var inserted = 0
        public var duplicates = 0
        public var conflicts = 0
        public var rejected = 0
    }

    private let settings: Settings
    private let logger: Logger
    private var pipeline: IngestPipeline?
    private let stopRequested = Atomic<Bool>(false)
    private let messages = Atomic<Int>(0)
    private let finished = DispatchGroup()

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    public var currentStatistics: Statistics {
        let written = pipeline?.currentStatistics ?? .init()
        return Statistics(messages: messages.load(ordering: .relaxed), inserted: written.inserted, duplicates: written.duplicates,
                          conflicts: written.conflicts, rejected: written.rejected)
    }

    /// Connects to the database and migrates it (failing at once if either fails), then
    /// starts the writers and the MQTT thread.
    public func start() throws {
        let connection = try PostgresConnection(settings.database)
        try ControlSchema.migrate(connection, logger: logger)
        let pipeline = try IngestPipeline(
            database: settings.database, writers: settings.writers, batchMessages: settings.batchMessages,
            queueCapacity: settings.queueCapacity, logger: logger)
        self.pipeline = pipeline
        let watch = PersistentGapWatch(database: settings.database, reportAfter: settings.gapReportAfter, logger: logger)
        watch.start()
        let replay: ReplayCoordinator? = settings.replayAfter.map { after in
            var planning = ReplayPlanner.Settings()
            planning.replayAfter = Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18
            return ReplayCoordinator(
                database: settings.database, requester: settings.broker.clientId, topicRoot: settings.topicRoot, settings: planning,
                logger: logger)
        }
        replay?.start()
        // The registers sites enforce, published retained from the database.
        let registers = RegisterPublisher(database: settings.database, topicRoot: settings.topicRoot, logger: logger)
        registers.start()
        let client = ThreadOwned(try MQTTClient(options: settings.broker))
        finished.enter()
        let mqttThread = Thread { [self] in
            runSubscriber(client.value, pipeline, replay, registers)
            pipeline.close()
            pipeline.waitUntilFinished()
            replay?.stop()
            registers.stop()
            watch.stop()
            finished.leave()
        }
        mqttThread.name = "ingest-mqtt"
        mqttThread.start()
    }

    /// Asks the threads to finish; what is queued is written first.
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    public func waitUntilStopped() { finished.wait() }

    private func runSubscriber(_ client: MQTTClient, _ pipeline: IngestPipeline, _ replay: ReplayCoordinator?, _ registers: RegisterPublisher) {
        let answerPrefix = settings.topicRoot + "/", answerSuffix = "/replay/status"
        client.setMaxInflight(settings.batchMessages)
        var everConnected = false
        var failures = 0
        client.onEvent = { [self] event in
            switch event {
            case .connected(let rc):
                guard rc == 0 else {
                    logger.error("the broker refused the connection", metadata: ["reason": "\(MQTTClient.connackText(rc))"])
                    return
                }
                failures = 0
                do {
                    try client.subscribe(settings.subscription, qos: 1)
                    logger.info("subscribed", metadata: ["pattern": "\(settings.subscription)", "client": "\(settings.broker.clientId)"])
                } catch {
                    logger.error("cannot subscribe", metadata: ["error": "\(error)"])
                }
            case .disconnected(let rc):
                if rc != 0 { logger.warning("lost the broker connection", metadata: ["code": "\(rc)"]) }
            case .message(let topic, let payload):
                // A site's answer to a replay request: bookkeeping, not a record.
                if topic.hasPrefix(answerPrefix) && topic.hasSuffix(answerSuffix) {
                    let site = topic.dropFirst(answerPrefix.count).dropLast(answerSuffix.count)
                    if !site.isEmpty && !site.contains("/") { replay?.receive(site: String(site), payload: payload) }
                    return
                }
                messages.add(1, ordering: .relaxed)
                do {
                    pipeline.submit(.message(try ContractMessage.parse(topic: topic, payload: payload, root: settings.topicRoot)))
                } catch let failure as ContractMessage.Failure {
                    if case .unknownTopic = failure {
                        logger.debug("ignored a topic outside the contract", metadata: ["topic": "\(topic)"])
                    } else {
                        logger.warning("rejected a message", metadata: ["reason": "\(failure)"])
                        pipeline.submit(.rejected(failure))
                    }
                } catch {}
            case .published:
                break
            }
        }
        while !stopRequested.load(ordering: .relaxed) {
            if client.socket < 0 {
                do {
                    if everConnected { try client.reconnect() } else { try client.connect() }
                    everConnected = true
                } catch {
                    failures += 1
                    if failures == 1 || failures.isMultiple(of: 10) {
                        logger.warning("cannot reach the broker; retrying", metadata: ["error": "\(error)", "attempts": "\(failures)"])
                    }
                    let backoff = min(30, 0.5 * pow(2, Double(min(failures - 1, 6))))
                    sleepUnlessStopped(backoff * Double.random(in: 0.5...1))
                    continue
                }
            }
            for request in replay?.takeOutgoing() ?? [] {
                do { _ = try client.publish(topic: request.topic, payload: request.payload, qos: 1) } catch {
                    // Unanswered requests are asked again after a while.
                    logger.warning("cannot publish a replay request", metadata: ["topic": "\(request.topic)", "error": "\(error)"])
                }
            }
            var unpublished: [RegisterPublisher.Outgoing] = []
            for register in registers.takeOutgoing() {
                do { _ = try client.publish(topic: register.topic, payload: register.payload, qos: 1, retain: true) } catch {
                    unpublished.append(register)
                    logger.warning("cannot publish a register", metadata: ["topic": "\(register.topic)", "error": "\(error)"])
                }
            }
            registers.giveBack(unpublished)
            // The database is behind: let the broker hold the messages instead of memory.
            if !pipeline.waitForRoom(timeout: 0.5) {
                _ = client.loopMisc()
                continue
            }
            _ = client.runLoop(milliseconds: 100)
        }
        client.disconnect()
    }

    private func sleepUnlessStopped(_ seconds: Double) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline && !stopRequested.load(ordering: .relaxed) { usleep(50_000) }
    }
}

/// A value created on one thread and handed to the thread that will own it; never shared.
final class ThreadOwned<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
