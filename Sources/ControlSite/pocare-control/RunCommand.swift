import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import Synchronization

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest: subscribe to every site, or to this instance's share (ingest:), QoS 1, persistent session, and store every record in PostgreSQL.",
        discussion: """
            Runs until SIGTERM or SIGINT, then writes what it holds and exits within 5 s whatever the
            database and the broker do.

            Example:
              pocare-control run --config /etc/pocare/control.yaml
            """)

    @Option(help: "The Control Site configuration (control.yaml).")
    var config: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    /// From the stop signal to the process's end, at most: the services bound their own stops
    /// below this, and a part stuck in a C call that never returns is left behind.
    static let stopLimit: Duration = .milliseconds(4_500)

    func run() throws {
        bootstrapLogging()
        let logger = Logger(label: "pocare-control.ingest")
        let loaded: ControlConfig
        do {
            loaded = try ControlConfig.load(path: config)
        } catch {
            note("\(error)")
            throw ExitStatus.usage
        }
        let (services, ingest, claim) = try Self.services(loaded, logger: logger)
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        try Self.runUntilStopped(group, ingest: ingest, logger: logger)
        withExtendedLifetime(claim) {}
    }

    private func bootstrapLogging() {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// The services of one process, each on threads of its own; they stop together. The claim
    /// holds this instance's part of the network in the database for as long as it runs.
    private static func services(_ loaded: ControlConfig, logger: Logger) throws -> ([any Service], IngestService, IngestClaim) {
        let settings = loaded.settings
        let replay: ReplayCoordinator? = settings.replayAfter.map { after in
            var planning = ReplayPlanner.Settings()
            planning.replayAfter = Double(after.nanoseconds) / 1e9
            return ReplayCoordinator(
                database: settings.database, requester: settings.broker.clientId, topicRoot: settings.topicRoot, settings: planning,
                logger: logger, share: settings.share)
        }
        // QA's decisions down to the sites: the registers (made only from approved changes),
        // retained per site, through ingest's client.
        let registers = RegisterPublisher(database: settings.database, topicRoot: settings.topicRoot, logger: logger, share: settings.share)
        let ingest = IngestService(settings: settings, logger: logger, replay: replay, registers: registers)
        do {
            try ingest.prepare()
        } catch {
            note("\(error)")
            throw ExitStatus.unreachable
        }
        let claim: IngestClaim
        do {
            claim = try IngestClaim.take(
                database: settings.database, clientId: settings.broker.clientId, share: settings.share, sharedGroup: settings.sharedGroup,
                logger: logger)
        } catch {
            note("\(error)")
            throw ExitStatus.usage
        }
        logger.notice("ingest share", metadata: [
            "share": "\(settings.share)", "shard": "\(settings.share.shard.map { "\($0)" } ?? "1/1")", "client": "\(settings.broker.clientId)",
        ])
        var services: [any Service] = [
            ingest, PersistentGapWatch(database: settings.database, reportAfter: settings.gapReportAfter, logger: logger, share: settings.share),
        ]
        if let replay { services.append(replay) }
        let compaction = settings.compactEvery > .zero ? SampleCompactionService(
            database: settings.database, every: settings.compactEvery,
            compaction: SampleCompaction(settledAfter: Double(settings.compactAfter.components.seconds)),
            logger: Logger(label: "pocare-control.compaction"), share: settings.share) : nil
        if let compaction { services.append(compaction) }
        // Deviations open from their evidence while records arrive.
        services += [registers, DeviationWatch(database: settings.database, settings: loaded.quality, logger: Logger(label: "pocare-control.deviations"))]
        if let metrics = loaded.metrics {
            do {
                let served = try ControlSiteMetrics(config: metrics, database: settings.database, ingest: ingest, compaction: compaction, logger: logger)
                services.append(served)
                logger.notice("metrics served", metadata: ["address": "\(metrics.host):\(served.port)"])
            } catch {
                note("\(error)")
                throw ExitStatus.usage
            }
        }
        if let web = loaded.web {
            services.append(ControlSiteWebServer(settings: web, connectionInfo: settings.database, quality: loaded.quality,
                                                 logger: Logger(label: "pocare-control.web")))
        }
        return (services, ingest, claim)
    }

    /// Runs the group until a stop signal, telling systemd it is ready and pinging its watchdog
    /// while ingest is alive.
    private static func runUntilStopped(_ group: ServiceGroup, ingest: IngestService, logger: Logger) throws {
        let notifier = ServiceNotifier()
        let signals = ProcessSignals { _ in
            notifier.send("STOPPING=1")
            logger.info("stopping")
            Task { await group.triggerGracefulShutdown() }
            // The promise to an operator (and to systemd's stop timeout): gone within the limit.
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(Self.stopLimit.nanoseconds))) {
                logger.error("a part did not stop in time; exiting without it")
                Foundation.exit(1)
            }
        }
        let outcome = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do { try await group.run() } catch { outcome.withLock { $0 = error } }
            done.signal()
        }
        notifier.send("READY=1", "STATUS=ingesting")
        // A thread stuck for good gets the service restarted.
        let watchdogInterval = ServiceNotifier.watchdogInterval()
        let watchdog = ServiceWatchdog(notifier: notifier, watchdog: watchdogInterval) {
            let health = ingest.health(within: watchdogInterval ?? .seconds(30))
            return .init(healthy: health.healthy, status: health.status)
        }
        watchdog.start()
        defer { watchdog.stop() }
        // The main thread only waits: every service runs on threads of its own or on the pool.
        done.wait()
        withExtendedLifetime(signals) {}
        if let error = outcome.withLock({ $0 }) {
            logger.critical("pocare-control run stopped", metadata: ["error": "\(error)"])
            throw ExitStatus.failure
        }
    }
}
