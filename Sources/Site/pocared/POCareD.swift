import ArgumentParser
import Foundation
import Logging
import POCareConfig
import SiteRuntime
import ServiceSupport

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

    @Flag(help: "Validate the configuration and every profile it names, say what the store's running batches mean for its configured batches, then exit (0 valid, 1 invalid).")
    var check = false

    @Flag(help: "Print every device's values on standard output after each poll.")
    var printValues = false

    @Option(help: """
        Site store file; overrides the configuration's store.path. Default: /var/lib/pocare/site.db \
        for root and the pocare user, ~/.local/state/pocare/site.db for anyone else.
        """)
    var store: String?

    @Option(help: """
        Control socket path; overrides the configuration's control.socket. Default: \
        /run/pocare/pocared.sock for root and the pocare user, ~/.local/state/pocare/pocared.sock for anyone else.
        """)
    var socket: String?

    @Flag(help: "Print a line for every commit to the store (`COMMIT stream first last`), for checks and tests.")
    var printCommits = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.", transform: { text in
        guard let level = Logger.Level(rawValue: text) else {
            throw ValidationError("'\(text)' is not a log level; use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return level
    })
    var logLevel: Logger.Level = .info

    func run() async throws {
        JournalLogHandler.bootstrap(level: logLevel)
        let result = SiteConfigLoader.load(path: config)
        for diagnostic in result.diagnostics { FileHandle.standardError.write(Data((diagnostic.description + "\n").utf8)) }
        guard let site = result.config else {
            FileHandle.standardError.write(Data("pocared: configuration is not valid; not starting\n".utf8))
            throw ExitCode(1)
        }
        if check {
            print("\(config): ok: site \(site.siteId), \(site.devices.count) devices")
            // What the store says of the configured batches: conflicts change nothing, and are said here first.
            for finding in SiteDaemon.batchFindings(site: site, storePath: store ?? site.store.path) { print("\(config): warning: \(finding)") }
            if site.requireSpecRelease == false {
                print("\(config): warning: specs.require_release is false: batches start under specs the Control Site has not released, and their records say so")
            }
            return
        }
        var options = SiteRunner.Options(configPath: config, storePath: store, socketPath: socket)
        options.printValues = printValues
        options.printCommits = printCommits
        do {
            try await SiteRunner(site: site, options: options).run()
        } catch {
            FileHandle.standardError.write(Data("pocared: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
