import Acquisition
import ArgumentParser
import Foundation
import Logging
import POCareConfig
import POCareCore

@main
struct POCareD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocared",
        abstract: "POCare Edge site daemon: polls bioreactors over Modbus/TCP.",
        discussion: """
            Example:
              pocared --config examples/site-demo.yaml --print-values
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
        for await sample in acquisition.samples {
            printer?.print(sample)
        }
        logger.notice("stopped")
    }
}
