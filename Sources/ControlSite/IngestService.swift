import ControlSiteLink
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `pocare-control run`: subscribes to every site's records and stores them in PostgreSQL.
///
/// Two threads of its own, so no blocking C call runs on the cooperative pool: the MQTT
/// thread owns the libmosquitto client and parses what arrives; the writer thread owns the
/// database connection and writes in batches. libmosquitto acknowledges a QoS 1 message to
/// the broker before handing it over (2.0.x), so a message in the queue when the process is
/// killed is lost here; it shows as a gap, and the site's backlog (or a replay, with a later
/// contract version) fills it. A clean stop writes everything queued first.
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
    private let queue: IngestQueue
    private let stopRequested = Atomic<Bool>(false)
    private let statistics = Mutex(Statistics())
    private let finished = DispatchGroup()

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.queue = IngestQueue(capacity: settings.queueCapacity)
    }

    public var currentStatistics: Statistics { statistics.withLock { $0 } }

    /// Connects to the database and migrates it (failing at once if either fails), then
    /// starts both threads.
    public func start() throws {
        let connection = try PostgresConnection(settings.database)
        try ControlSchema.migrate(connection, logger: logger)
        let writer = ThreadOwned(try IngestWriter(connection: connection, logger: logger))
        let client = ThreadOwned(try MQTTClient(options: settings.broker))
        finished.enter()
        let writerThread = Thread { [self] in
            runWriter(writer.value)
            finished.leave()
        }
        writerThread.name = "ingest-writer"
        writerThread.start()
        finished.enter()
        let mqttThread = Thread { [self] in
            runSubscriber(client.value)
            queue.close()
            finished.leave()
        }
        mqttThread.name = "ingest-mqtt"
        mqttThread.start()
    }

    /// Asks both threads to finish; what is queued is written first.
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    public func waitUntilStopped() { finished.wait() }

    private func runSubscriber(_ client: MQTTClient) {
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
                statistics.withLock { $0.messages += 1 }
                do {
                    queue.append(.message(try ContractMessage.parse(topic: topic, payload: payload, root: settings.topicRoot)))
                } catch let failure as ContractMessage.Failure {
                    if case .unknownTopic = failure {
                        logger.debug("ignored a topic outside the contract", metadata: ["topic": "\(topic)"])
                    } else {
                        logger.warning("rejected a message", metadata: ["reason": "\(failure)"])
                        queue.append(.rejected(failure))
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
            // The database is behind: let the broker hold the messages instead of memory.
            if !queue.waitForRoom(timeout: 0.5) {
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

    private func runWriter(_ initial: IngestWriter) {
        var writer: IngestWriter? = initial
        var lastReport = ContinuousClock.now
        while true {
            let items = queue.take(limit: settings.batchMessages)
            if items.isEmpty { break }
            var attempt = 0
            while true {
                do {
                    if writer == nil {
                        let connection = try PostgresConnection(settings.database)
                        writer = try IngestWriter(connection: connection, logger: logger)
                        logger.info("reconnected to PostgreSQL")
                    }
                    try writeSplittingBadItems(items, writer!)
                    break
                } catch let error as PostgresError where error.kind == .connection || error.isRetryable {
                    attempt += 1
                    if error.kind == .connection { writer = nil }
                    if attempt == 1 || attempt.isMultiple(of: 10) {
                        logger.error("cannot write to PostgreSQL; retrying the same messages", metadata: ["error": "\(error)"])
                    }
                    usleep(UInt32(min(5_000_000, 100_000 * attempt)))
                } catch {
                    // Anything else is this software's own failure: say so and keep trying.
                    attempt += 1
                    logger.critical("ingest write failed", metadata: ["error": "\(error)"])
                    writer = nil
                    usleep(UInt32(min(5_000_000, 100_000 * attempt)))
                }
            }
            if ContinuousClock.now - lastReport > .seconds(10) {
                lastReport = .now
                let s = currentStatistics
                logger.info("ingest progress", metadata: [
                    "messages": "\(s.messages)", "inserted": "\(s.inserted)", "duplicates": "\(s.duplicates)",
                    "conflicts": "\(s.conflicts)", "queued": "\(queue.count)",
                ])
            }
        }
    }

    /// Writes the batch; if the database rejects it for its content (one malformed record
    /// makes the whole COPY fail), writes each message alone and records the bad ones as findings.
    private func writeSplittingBadItems(_ items: [IngestWriter.Item], _ writer: IngestWriter) throws {
        do {
            count(try writer.write(items))
        } catch let error as PostgresError where error.kind == .statement && !error.isRetryable && items.count > 1 {
            logger.warning("a batch was refused; writing its messages one by one", metadata: ["error": "\(error)"])
            for item in items { try writeSplittingBadItems([item], writer) }
        } catch let error as PostgresError where error.kind == .statement && !error.isRetryable {
            guard case .message(let message) = items[0] else { throw error }
            let (site, topic) = switch message {
            case .status(let s): (s.site, "\(settings.topicRoot)/\(s.site)/status")
            case .records(let r): (r.site, "\(settings.topicRoot)/\(r.site)/\(r.stream)")
            }
            logger.warning("the database refused a message", metadata: ["topic": "\(topic)", "error": "\(error)"])
            count(try writer.write([.rejected(.malformed(site: site, topic: topic, reason: error.message))]))
        }
    }

    private func count(_ outcome: IngestWriter.Outcome) {
        statistics.withLock {
            $0.inserted += outcome.inserted
            $0.duplicates += outcome.duplicates
            $0.conflicts += outcome.conflicts
            $0.rejected += outcome.rejected
        }
    }
}

/// A value created on one thread and handed to the thread that will own it; never shared.
final class ThreadOwned<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
