import Foundation
import Logging
import POCareCore
import Synchronization

/// Pings systemd's watchdog only while the pipeline is healthy, so a hung daemon is
/// restarted: a thread of its own asks `check` every half watchdog interval (or every 5 s
/// without a watchdog, for the STATUS line) and sends `WATCHDOG=1` only on a healthy answer.
public final class ServiceWatchdog: Sendable {
    public struct Verdict: Sendable {
        public var healthy: Bool
        /// One line for `systemctl status`.
        public var status: String
        public init(healthy: Bool, status: String) {
            self.healthy = healthy
            self.status = status
        }
    }

    private let notifier: ServiceNotifier
    private let interval: Duration
    private let pinging: Bool
    private let check: @Sendable () -> Verdict
    private let stopped = Atomic<Bool>(false)

    public init(notifier: ServiceNotifier, watchdog: Duration?, check: @escaping @Sendable () -> Verdict) {
        self.notifier = notifier
        self.pinging = watchdog != nil
        self.interval = watchdog.map { $0 / 2 } ?? .seconds(5)
        self.check = check
    }

    private let thread = DedicatedThread(name: "service-watchdog")

    public func start() {
        thread.start { [self] in run() }
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func run() {
        let logger = Logger(label: "pocare.service")
        var wasHealthy = true
        while true {
            let verdict = check()
            if verdict.healthy {
                if pinging { notifier.send("WATCHDOG=1", "STATUS=\(verdict.status)") } else { notifier.send("STATUS=\(verdict.status)") }
                if !wasHealthy { logger.notice("pipeline healthy again; watchdog pings resume") }
            } else {
                notifier.send("STATUS=\(verdict.status)")
                if wasHealthy { logger.error("pipeline unhealthy; watchdog pings withheld", metadata: ["status": "\(verdict.status)"]) }
            }
            wasHealthy = verdict.healthy
            // Short monotonic sleeps: a wall-clock step can neither delay a ping nor the stop.
            let deadline = ContinuousClock.now + interval
            while ContinuousClock.now < deadline {
                if stopped.load(ordering: .relaxed) { return }
                usleep(100_000)
            }
        }
    }
}
