import ControlAPI
import Foundation
import Logging
import POCareCore
import ServiceSupport
import SiteStore

#if canImport(Glibc)
import Glibc
#endif

/// Runs a validated site until SIGINT or SIGTERM: opens the store, starts the pollers, the
/// Control Site link and the control socket, feeds the pipeline task, and on shutdown stops
/// every part in the order that loses nothing.
public struct SiteRunner {
    public struct Options: Sendable {
        /// The configuration file, as given; reloads read it again.
        public var configPath: String
        /// Overrides the configuration's store path.
        public var storePath: String?
        /// Overrides the configuration's control socket path.
        public var socketPath: String?
        public var printValues = false
        /// One `COMMIT stream first last` line per committed range on standard output.
        public var printCommits = false

        public init(configPath: String, storePath: String? = nil, socketPath: String? = nil) {
            self.configPath = configPath
            self.storePath = storePath
            self.socketPath = socketPath
        }
    }

    public enum StartError: Error, CustomStringConvertible {
        case store(String)
        case controlSocket(String)
        public var description: String {
            switch self {
            case .store(let message): "cannot open the site store: \(message)"
            case .controlSocket(let message): message
            }
        }
    }

    public let site: SiteConfig
    public let options: Options
    private let logger = Logger(label: "pocare.daemon")

    public init(site: SiteConfig, options: Options) {
        self.site = site
        self.options = options
    }

    /// The store settings the configuration asks for, with the command line's path.
    public static func storeSettings(site: SiteConfig, path: String) -> SiteStore.Settings {
        var settings = SiteStore.Settings(path: path)
        settings.synchronous = site.store.synchronousFull ? .full : .normal
        settings.commitInterval = site.store.commitInterval
        settings.commitRows = site.store.commitRows
        settings.retention = site.store.retention
        settings.freeSpaceWarningBytes = site.store.freeSpaceWarningBytes
        settings.freeSpaceLimitBytes = site.store.freeSpaceLimitBytes
        return settings
    }

    public func run() async throws(StartError) {
        // A SIGHUP before the reload handler is installed must not end the daemon.
        signal(SIGHUP, SIG_IGN)
        let site = self.site, logger = self.logger
        let configPath = URL(fileURLWithPath: options.configPath).standardizedFileURL.path
        let storeSettings = Self.storeSettings(site: site, path: options.storePath ?? site.store.path)
        let siteStore: SiteStore
        do {
            siteStore = try SiteStore(settings: storeSettings)
        } catch {
            throw .store("\(error)")
        }
        let daemon = SiteDaemon(site: site, configPath: configPath, store: siteStore, printValues: options.printValues)
        let printing = options.printCommits
        let parts = daemon.parts
        siteStore.setCommitHandler { ranges in
            parts.link?.notify()
            if printing {
                let lines = ranges.map { "COMMIT \($0.stream) \($0.first) \($0.last)\n" }.joined()
                FileHandle.standardOutput.write(Data(lines.utf8))
            }
        }
        await recordStart(daemon, store: siteStore, configPath: configPath)

        let notifier = ServiceNotifier()
        let input = daemon.input
        let server = try startControlServer(input: input, store: siteStore)
        server.start()
        let signals = forwardSignals(to: input, notifier: notifier)
        logger.notice(
            "started",
            metadata: ["site": "\(site.siteId)", "devices": "\(site.devices.map(\.id).joined(separator: ","))",
                       "store": "\(storeSettings.path)", "version": "\(POCareVersion.current)"])
        daemon.startParts()
        let watchdog = ServiceWatchdog(notifier: notifier, watchdog: ServiceNotifier.watchdogInterval()) {
            PipelineHealth.check(pollers: parts.pollers, store: siteStore, link: parts.link)
        }
        let metrics = site.metrics.flatMap { startMetrics($0, parts: parts, store: siteStore, storePath: storeSettings.path) }
        // Ready: configuration valid, store open and writable, pollers scheduling.
        notifier.send("READY=1", "STATUS=polling \(site.devices.count) devices")
        watchdog.start()
        await daemon.runPipeline {
            notifier.send("READY=1", "STATUS=polling \(daemon.site.devices.count) devices")
        }
        watchdog.stop()
        metrics?.stop()
        server.stop()
        withExtendedLifetime(signals) {}
        await daemon.shutDown()
        logger.notice("stopped")
    }

    /// The daemon's start in the audit trail, and the batches the configuration starts.
    private func recordStart(_ daemon: SiteDaemon, store siteStore: SiteStore, configPath: String) async {
        let site = self.site
        do {
            _ = try await siteStore.audit(AuditAction(
                user: siteStore.systemUser, action: "daemon.start", target: configPath,
                newValue: "version=\(POCareVersion.current) " + SiteDaemon.fingerprint(configPath: configPath, site: site)))
        } catch {
            // A full disk must not keep the daemon from polling and alarming (or send it into
            // a restart loop); the store alarm says why nothing is committed.
            logger.critical("the daemon.start audit entry could not be committed; running without it", metadata: ["error": "\(error)"])
        }
        do {
            try await daemon.startBatches(for: site.devices)
        } catch {
            logger.critical("configured batches not started: their audit entries could not be committed", metadata: ["error": "\(error)"])
        }
    }

    /// The control socket, answered on the pipeline task.
    private func startControlServer(input: AsyncStream<DaemonInput>.Continuation, store siteStore: SiteStore)
        throws(StartError) -> ControlServer
    {
        do {
            return try ControlServer(
                settings: .init(
                    path: options.socketPath ?? site.control.path,
                    group: site.control.group ?? (getgrnam("pocare-operators") != nil ? "pocare-operators" : nil))
            ) { request, peer, reply in
                // Answered on the pipeline task; once the pipeline has ended, at once.
                if case .terminated = input.yield(.control(request, peer, reply: reply)) {
                    reply(.failure(id: request.id, .failed, "the daemon is stopping"))
                }
            }
        } catch {
            siteStore.close()
            throw .controlSocket("\(error)")
        }
    }

    /// SIGTERM and SIGINT stop the pipeline, SIGHUP reloads the configuration.
    private func forwardSignals(to input: AsyncStream<DaemonInput>.Continuation, notifier: ServiceNotifier) -> ProcessSignals {
        let logger = self.logger
        return ProcessSignals(reload: true) { request in
            switch request {
            case .stop:
                notifier.send("STOPPING=1", "STATUS=stopping: committing the last samples")
                logger.notice("shutdown requested; stopping pollers at their cycle boundary")
                input.yield(.stop)
            case .reload:
                notifier.send("RELOADING=1", "STATUS=reloading the configuration")
                logger.notice("reload requested")
                input.yield(.reload)
            }
        }
    }

    /// Prometheus metrics on their own thread. Monitoring of the process must not cost the
    /// monitoring of the culture: an address that cannot be bound is an error in the journal,
    /// and the daemon polls on without metrics.
    private func startMetrics(_ config: MetricsConfig, parts: RunningParts, store: SiteStore, storePath: String) -> MetricsEndpoint? {
        do {
            let endpoint = try MetricsEndpoint(host: config.host, port: config.port, logger: logger) {
                SiteMetrics.families(pollers: parts.pollers, store: store, link: parts.link, storePath: storePath)
            }
            endpoint.start()
            logger.notice("metrics served", metadata: ["address": "\(config.host):\(endpoint.port)"])
            return endpoint
        } catch {
            logger.error("metrics not served", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
