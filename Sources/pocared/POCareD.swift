import Acquisition
import ArgumentParser
import Foundation
import InProcessControl
import Logging
import POCareConfig
import POCareCore

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

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
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

        let engine = ControlEngine()
        let eventLog = EventLog(printToStandardOutput: printValues)
        let startTime = Timestamp(wall: Date(), monotonic: MonotonicClock.now())
        for device in site.devices {
            engine.register(device: device.id, profile: device.profile)
            if let plan = device.batch {
                let events = try engine.startBatch(
                    device: device.id, batchId: plan.batchId, spec: plan.spec, phase: plan.phase,
                    followDevicePhase: plan.followDevicePhase, at: startTime)
                eventLog.record(events)
            }
        }

        let acquisition = AcquisitionService(config: site)
        let stop = ShutdownSignal()
        stop.onSignal {
            logger.notice("shutdown requested; stopping pollers at their cycle boundary")
            acquisition.stop()
        }
        logger.notice(
            "started", metadata: ["site": "\(site.siteId)", "devices": "\(site.devices.map(\.id).joined(separator: ","))"])
        acquisition.start()
        let printer = printValues ? LiveValuePrinter(site: site) : nil
        var events: [ControlEvent] = []
        for await sample in acquisition.samples {
            printer?.print(sample)
            engine.evaluate(sample, into: &events)
            if !events.isEmpty {
                eventLog.record(events)
                events.removeAll(keepingCapacity: true)
            }
        }
        logger.notice("stopped")
    }
}
