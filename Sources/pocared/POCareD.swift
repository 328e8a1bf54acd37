import Acquisition
import ArgumentParser
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

    @Flag(help: "Print a line for every commit to the store (`COMMIT stream first last`), for checks and tests.")
    var printCommits = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
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
        let board = DeviceStatusBoard(site: site)
        var link: ControlSiteLink?
        if let controlSite = site.controlSite {
            var broker = BrokerOptions(host: controlSite.host, port: controlSite.port, clientId: controlSite.clientId)
            broker.mqtt5 = controlSite.mqtt5
            broker.keepAlive = controlSite.keepAlive
            broker.username = controlSite.username
            broker.password = controlSite.password
            if controlSite.usesTLS {
                broker.tls = .init(caFile: controlSite.caFile ?? "", certFile: controlSite.certFile, keyFile: controlSite.keyFile)
            }
            var settings = ControlSiteLink.Settings(broker: broker, site: site.siteId)
            settings.topicRoot = controlSite.topicRoot
            settings.window = controlSite.window
            settings.telemetryBatch = controlSite.telemetryBatch
            link = ControlSiteLink(settings: settings, storePath: storeSettings.path, store: siteStore) { board.snapshot }
        }
        let printing = printCommits
        siteStore.setCommitHandler { [link] ranges in
            link?.notify()
            if printing {
                let lines = ranges.map { "COMMIT \($0.stream) \($0.first) \($0.last)\n" }.joined()
                FileHandle.standardOutput.write(Data(lines.utf8))
            }
        }
        let specs = Set(site.devices.compactMap { $0.batch?.spec.fingerprint }).sorted()
        _ = try await siteStore.audit(AuditAction(
            user: siteStore.systemUser, action: "daemon.start", target: configPath,
            newValue: "version=\(POCareVersion.current) site=\(site.siteId) devices=\(site.devices.map(\.id).joined(separator: ",")) specs=\(specs.joined(separator: ","))"))

        let engine = ControlEngine()
        let pipeline = SitePipeline(
            site: site, engine: engine, store: siteStore, eventLog: EventLog(printToStandardOutput: printValues),
            printer: printValues ? LiveValuePrinter(site: site) : nil, board: board)
        for device in site.devices {
            engine.register(device: device.id, profile: device.profile)
            guard let plan = device.batch else { continue }
            // Audited before it takes effect: no record, no batch.
            _ = try await siteStore.audit(AuditAction(
                user: siteStore.systemUser, action: "batch.start", target: device.id,
                reason: "started from the site configuration",
                newValue: "batch=\(plan.batchId) spec=\(plan.spec.fingerprint) phase=\(plan.phase ?? (plan.followDevicePhase ? "from device" : "first"))"))
            let now = Timestamp(wall: Date(), monotonic: MonotonicClock.now())
            pipeline.record(try engine.startBatch(
                device: device.id, batchId: plan.batchId, spec: plan.spec, phase: plan.phase,
                followDevicePhase: plan.followDevicePhase, at: now))
        }

        let acquisition = AcquisitionService(config: site)
        let notifier = ServiceNotifier()
        let stop = ShutdownSignal()
        stop.onSignal {
            notifier.send("STOPPING=1", "STATUS=stopping: committing the last samples")
            logger.notice("shutdown requested; stopping pollers at their cycle boundary")
            acquisition.stop()
        }
        logger.notice(
            "started",
            metadata: ["site": "\(site.siteId)", "devices": "\(site.devices.map(\.id).joined(separator: ","))",
                       "store": "\(storeSettings.path)", "version": "\(POCareVersion.current)"])
        acquisition.start()
        link?.start()
        let watchdog = ServiceWatchdog(notifier: notifier, watchdog: ServiceNotifier.watchdogInterval()) { [link] in
            PipelineHealth.check(pollers: acquisition.pollers, store: siteStore, link: link)
        }
        // Ready: configuration valid, store open and writable, pollers scheduling.
        notifier.send("READY=1", "STATUS=polling \(site.devices.count) devices")
        watchdog.start()
        for await sample in acquisition.samples {
            pipeline.handle(sample)
        }
        watchdog.stop()
        _ = try? await siteStore.audit(AuditAction(user: siteStore.systemUser, action: "daemon.stop", target: configPath))
        await siteStore.flush()
        link?.stop()
        siteStore.close()
        logger.notice("stopped")
    }
}
