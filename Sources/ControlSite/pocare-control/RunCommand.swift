import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Set from the signal handler; the service stops after writing what it holds.
nonisolated(unsafe) var runStopRequested: sig_atomic_t = 0

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest: subscribe to every site (QoS 1, persistent session) and store every record in PostgreSQL.",
        discussion: """
            Example:
              pocare-control run --config /etc/pocare/control.yaml
            """)

    @Option(help: "The Control Site configuration (control.yaml).")
    var config: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        signal(SIGINT) { _ in runStopRequested = 1 }
        signal(SIGTERM) { _ in runStopRequested = 1 }

        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "pocare-control.ingest")
        let settings: IngestService.Settings
        let web: WebSettings?
        let quality: QualitySettings
        do {
            let loaded = try ControlConfig.load(path: config)
            settings = loaded.settings
            web = loaded.web
            quality = loaded.quality
        } catch {
            note("\(error)")
            throw ExitStatus.usage
        }
        let service = IngestService(settings: settings, logger: logger)
        do {
            try service.start()
        } catch {
            note("\(error)")
            throw ExitStatus.unreachable
        }
        // Deviations open from their evidence while records arrive.
        let deviations = DeviationWatch(database: settings.database, settings: quality, logger: Logger(label: "pocare-control.deviations"))
        deviations.start()
        // The pages, in the same process: their own database threads, NIO's event loops.
        let pages = web.map { web in
            let server = ControlSiteWebServer(settings: web, connectionInfo: settings.database, quality: quality,
                                              logger: Logger(label: "pocare-control.web"))
            return Task.detached {
                do {
                    try await server.run { port in
                        Logger(label: "pocare-control.web").notice("web pages listening", metadata: ["address": "\(web.address)", "port": "\(port)"])
                    }
                } catch {
                    Logger(label: "pocare-control.web").critical("web pages stopped", metadata: ["error": "\(error)"])
                    runStopRequested = 1
                }
            }
        }
        while runStopRequested == 0 { usleep(100_000) }
        pages?.cancel()
        deviations.stop()
        logger.info("stopping: writing what is queued")
        service.stop()
        service.waitUntilStopped()
        let s = service.currentStatistics
        logger.info("stopped", metadata: ["messages": "\(s.messages)", "inserted": "\(s.inserted)", "duplicates": "\(s.duplicates)"])
    }
}
