import Acquisition
import ArgumentParser
import ControlAPI
import ControlSiteLink
import Foundation
import InProcessControl
import Logging
import POCareConfig
import POCareCore
import SiteService
import SiteStore

@main
struct POCareD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocared",
        abstract: "POCare Edge site daemon: polls bioreactors over Modbus/TCP and holds every value to the approved IPC spec.",
        discussion: """
            Example:
              pocared --config docs/examples/site-demo.yaml --print-values
              pocared --config /etc/pocare/site.yaml --check
            """)

    @Option(help: "Site configuration file (YAML).")
    var config: String

    @Flag(help: "Validate the configuration and every profile it names, then exit (0 valid, 1 invalid).")
    var check = false

    @Flag(help: "Print every device's values on standard output after each poll.")
    var printValues = false

    @Option(help: "Site store file; overrides the configuration's store.path.")
    var store: String?

    @Option(help: "Control socket path; overrides the configuration's control.socket.")
    var socket: String?

    @Flag(help: "Print a line for every commit to the store (`COMMIT stream first last`), for checks and tests.")
    var printCommits = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        // A SIGHUP before the reload handler is installed must not end the daemon.
        signal(SIGHUP, SIG_IGN)
        JournalLogHandler.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "pocare.daemon")

        let result = SiteConfigLoader.load(path: config)
        for diagnostic in result.diagnostics { FileHandle.standardError.write(Data((diagnostic.description + "\n").utf8)) }
        guard let site = result.config else {
            FileHandle.standardError.write(Data("pocared: configuration is not valid; not starting\n".utf8))
            throw ExitCode(1)
        }
        if check {
            print("\(config): ok: site \(site.siteId), \(site.devices.count) devices")
            return
        }

        let configPath = URL(fileURLWithPath: config).standardizedFileURL.path
        var storeSettings = SiteStore.Settings(path: store ?? site.store.path)
        storeSettings.synchronous = site.store.synchronousFull ? .full : .normal
        storeSettings.commitInterval = site.store.commitInterval
        storeSettings.commitRows = site.store.commitRows
        storeSettings.retention = site.store.retention
        storeSettings.freeSpaceWarningBytes = site.store.freeSpaceWarningBytes
        storeSettings.freeSpaceLimitBytes = site.store.freeSpaceLimitBytes
        let siteStore: SiteStore
        do {
            siteStore = try SiteStore(settings: storeSettings)
        } catch {
            FileHandle.standardError.write(Data("pocared: cannot open the site store: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let daemon = SiteDaemon(site: site, configPath: configPath, store: siteStore, printValues: printValues)
        let printing = printCommits
        let parts = daemon.parts
        siteStore.setCommitHandler { ranges in
            parts.link?.notify()
            if printing {
                let lines = ranges.map { "COMMIT \($0.stream) \($0.first) \($0.last)\n" }.joined()
                FileHandle.standardOutput.write(Data(lines.utf8))
            }
        }
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

        let notifier = ServiceNotifier()
        let input = daemon.input
        let server: ControlServer
        do {
            server = try ControlServer(
                settings: .init(
                    path: socket ?? site.control.path,
                    group: site.control.group ?? (getgrnam("pocare-operators") != nil ? "pocare-operators" : nil))
            ) { request, peer in
                await withCheckedContinuation { (answer: CheckedContinuation<ControlResponse, Never>) in
                    input.yield(.control(request, peer, reply: { answer.resume(returning: $0) }))
                }
            }
        } catch {
            FileHandle.standardError.write(Data("pocared: \(error)\n".utf8))
            siteStore.close()
            throw ExitCode(1)
        }
        server.start()
        let signals = SignalHandlers()
        signals.onShutdown {
            notifier.send("STOPPING=1", "STATUS=stopping: committing the last samples")
            logger.notice("shutdown requested; stopping pollers at their cycle boundary")
            input.yield(.stop)
        }
        signals.onReload {
            notifier.send("RELOADING=1", "STATUS=reloading the configuration")
            logger.notice("reload requested")
            input.yield(.reload)
        }
        logger.notice(
            "started",
            metadata: ["site": "\(site.siteId)", "devices": "\(site.devices.map(\.id).joined(separator: ","))",
                       "store": "\(storeSettings.path)", "version": "\(POCareVersion.current)"])
        daemon.acquisition.start()
        daemon.link?.start()
        let watchdog = ServiceWatchdog(notifier: notifier, watchdog: ServiceNotifier.watchdogInterval()) {
            PipelineHealth.check(pollers: parts.pollers, store: siteStore, link: parts.link)
        }
        // Ready: configuration valid, store open and writable, pollers scheduling.
        notifier.send("READY=1", "STATUS=polling \(site.devices.count) devices")
        watchdog.start()
        loop: for await item in daemon.inputs {
            switch item {
            case .sample(let sample):
                daemon.pipeline.handle(sample)
            case .reload:
                await daemon.reload()
                notifier.send("READY=1", "STATUS=polling \(daemon.site.devices.count) devices")
            case .control(let request, let peer, let reply):
                reply(await daemon.handle(request, from: peer))
                if request.command == "reload" { notifier.send("READY=1") }
            case .stop:
                // Every sample the pollers took before they stopped is already queued ahead of
                // the end of the stream.
                let acquisition = daemon.acquisition
                await offPool { acquisition.stop() }
                daemon.input.finish()
            }
        }
        watchdog.stop()
        server.stop()
        _ = try? await siteStore.audit(AuditAction(user: siteStore.systemUser, action: "daemon.stop", target: configPath))
        await siteStore.flush()
        // Both wait for threads of their own (the link's last publish, the writer's last
        // commit): off Swift's cooperative threads.
        let link = daemon.link
        await offPool {
            link?.stop()
            siteStore.close()
        }
        logger.notice("stopped")
    }
}
