import Foundation
import Logging
import POCareContract
import POCareCore
import ServiceLifecycle
import Synchronization

/// Publishes the Control Site's registers to every site, retained, on
/// `{root}/{site}/register/{kind}`, whenever what QA decided changes in PostgreSQL (approved
/// changes write the database; this notices within a second), and to a site met for the first
/// time: the released specs to every site, and each site's own registers (its trained
/// personnel) to it. Sites keep every version and enforce the latest, also while offline.
///
/// Its own thread and database connection: once a second it makes a new register version if
/// QA's decisions changed (`RegisterVersions`) and works out which site lacks which version.
/// The MQTT thread, which owns the client, publishes (`takeOutgoing`) and says what it
/// published; after a reconnect it publishes everything again (a broker without persistence
/// forgets retained messages).
public final class RegisterPublisher: Service, Sendable {
    public typealias Outgoing = (topic: String, hash: String, payload: [UInt8])

    private struct State {
        /// What each site's topic should hold: the latest register's hash and message.
        var desired: [String: (hash: String, payload: [UInt8])] = [:]
        /// What this connection published, by topic.
        var published: [String: String] = [:]
    }

    private let database: String
    private let topicRoot: String
    private let logger: Logger
    private let interval: Duration
    private let stopped = Atomic<Bool>(false)
    private let state = Mutex(State())
    private let thread = DedicatedThread(name: "register-publisher")

    /// Only `share`'s sites get their registers from this instance: another instance publishes its own.
    private let share: IngestShare

    public init(database: String, topicRoot: String, logger: Logger, interval: Duration = .seconds(1), share: IngestShare = .everySite) {
        self.share = share
        self.database = database
        self.topicRoot = topicRoot
        self.logger = logger
        self.interval = interval
    }

    /// Works out the registers on its own thread until the service group shuts down.
    public func run() async {
        thread.start { [self] in work() }
        // Throws only when the task is cancelled, which is the other way a service is told to stop.
        try? await gracefulShutdown()
        stopped.store(true, ordering: .relaxed)
        if !(await thread.joined(within: .seconds(2))) {
            logger.warning("the register thread is still waiting for the database; stopping without it")
        }
    }

    /// Messages to publish now, retained: each topic whose published hash differs from the latest.
    public func takeOutgoing() -> [Outgoing] {
        state.withLock { s in
            s.desired.compactMap { topic, want in s.published[topic] == want.hash ? nil : (topic, want.hash, want.payload) }
                .sorted { $0.topic < $1.topic }
        }
    }

    /// The MQTT thread published `hash` on `topic`.
    public func published(topic: String, hash: String) { state.withLock { $0.published[topic] = hash } }

    /// A new broker connection: everything is published again.
    public func connectionRestarted() { state.withLock { $0.published = [:] } }

    /// Whether a topic is one of the registers' (the ingest skips its own retained messages).
    public static func isRegisterTopic(_ topic: String, root: String) -> Bool {
        guard topic.hasPrefix(root + "/") else { return false }
        let levels = topic.dropFirst(root.count + 1).split(separator: "/", omittingEmptySubsequences: false)
        return levels.count == 3 && levels[1] == "register"
    }

    private func work() {
        var connection: PostgresConnection?
        var failures = 0
        var lastVersion: Int64 = 0
        while !stopped.load(ordering: .relaxed) {
            do {
                let db = try connection ?? PostgresConnection(database)
                connection = db
                if let register = try RegisterVersions.currentSpecRegister(db) {
                    if register.version != lastVersion {
                        logger.notice(
                            "register of released specs", metadata: ["version": "\(register.version)", "hash": "\(register.hash)"])
                        lastVersion = register.version
                    }
                    try plan(register, db)
                }
                planSiteRegisters(try RegisterVersions.siteRegisters(db))
                failures = 0
            } catch {
                failures += 1
                if failures == 1 || failures.isMultiple(of: 30) {
                    logger.error("cannot work out the registers to publish; retrying", metadata: ["error": "\(error)"])
                }
                connection = nil
            }
            let deadline = MonotonicClock.now() + interval.nanoseconds
            while !stopped.load(ordering: .relaxed) && MonotonicClock.now() < deadline { usleep(50_000) }
        }
    }

    /// Each site's own registers, to that site.
    private func planSiteRegisters(_ registers: [(site: String, register: ControlSiteRegister)]) {
        state.withLock { s in
            for (site, register) in registers where share.takes(site) {
                let topic = ControlSiteRegister.topic(root: topicRoot, site: site, kind: register.kind)
                guard s.desired[topic]?.hash != register.hash else { continue }
                s.desired[topic] = (register.hash, register.message(site: site))
                logger.notice("register of a site", metadata: ["site": "\(site)", "kind": "\(register.kind)", "version": "\(register.version)"])
            }
        }
    }

    /// Every site the Control Site knows gets the register, on its own topic.
    private func plan(_ register: ControlSiteRegister, _ connection: PostgresConnection) throws {
        let result = try connection.execute("SELECT site FROM sites ORDER BY site")
        let sites = (0..<result.rowCount).compactMap { result.string($0, "site") }.filter(share.takes)
        let hash = register.hash
        let missing = state.withLock { s in
            sites.filter { s.desired[ControlSiteRegister.topic(root: topicRoot, site: $0, kind: register.kind)]?.hash != hash }
        }
        guard !missing.isEmpty else { return }
        // The message names its site: written per site, only when the register or the sites changed.
        let messages = missing.map { (ControlSiteRegister.topic(root: topicRoot, site: $0, kind: register.kind), register.message(site: $0)) }
        state.withLock { s in for (topic, payload) in messages { s.desired[topic] = (hash, payload) } }
    }
}
