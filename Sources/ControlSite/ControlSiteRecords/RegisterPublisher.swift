import Foundation
import Logging
import POCareCore
import ServiceLifecycle
import Synchronization

/// Publishes the registers sites enforce (their trained personnel), retained per site, from
/// `register_versions`: each site's newest version once at start, then every new version as it
/// appears. Its own thread and connection read the table; the MQTT thread, which owns the
/// client, publishes what `takeOutgoing` hands it. Retained messages make a repeat harmless, so
/// several instances may publish the same version. A service of `pocare-control run`.
public final class RegisterPublisher: Service, Sendable {
    public typealias Outgoing = (topic: String, payload: [UInt8])

    private let thread = DedicatedThread(name: "register-publisher")
    private let stopped = Atomic<Bool>(false)
    private let outgoing = Mutex<[Outgoing]>([])
    private let database: String
    private let topicRoot: String
    private let logger: Logger

    public init(database: String, topicRoot: String, logger: Logger) {
        self.database = database
        self.topicRoot = topicRoot
        self.logger = logger
    }

    /// Reads on its own thread until the service group shuts down.
    public func run() async {
        thread.start { [self] in work() }
        try? await gracefulShutdown()
        stopped.store(true, ordering: .relaxed)
        if !(await thread.joined(within: .seconds(2))) {
            logger.warning("the register thread is still waiting for the database; stopping without it")
        }
    }

    public func takeOutgoing() -> [Outgoing] {
        outgoing.withLock {
            let taken = $0
            $0 = []
            return taken
        }
    }

    /// Registers the client could not publish (no connection yet) wait for the next turn.
    func giveBack(_ registers: [Outgoing]) {
        guard !registers.isEmpty else { return }
        outgoing.withLock { $0.insert(contentsOf: registers, at: 0) }
    }

    private func work() {
        var connection: PostgresConnection?
        var published: [String: Int64] = [:]
        while !stopped.load(ordering: .relaxed) {
            do {
                if connection == nil || connection?.isConnected == false { connection = try PostgresConnection(database) }
                let r = try connection!.execute("""
                    SELECT DISTINCT ON (register, site) register, site, version, payload FROM register_versions ORDER BY register, site, version DESC
                    """)
                for i in 0..<r.rowCount {
                    guard let register = r.string(i, 0), let site = r.string(i, 1), let version = r.int(i, 2), let payload = r.string(i, 3) else { continue }
                    let key = register + "/" + site
                    guard published[key] != version else { continue }
                    published[key] = version
                    let topic = "\(topicRoot)/\(site)/register/\(register)"
                    outgoing.withLock { $0.append((topic, Array(payload.utf8))) }
                    logger.info("register published", metadata: ["topic": "\(topic)", "version": "\(version)"])
                }
            } catch {
                logger.error("cannot read the registers to publish", metadata: ["error": "\(error)"])
                connection = nil
            }
            for _ in 0..<20 where !stopped.load(ordering: .relaxed) { usleep(100_000) }
        }
    }
}
