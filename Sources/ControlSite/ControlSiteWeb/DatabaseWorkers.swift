import ControlSiteRecords
import POCareContract
import Foundation
import Logging
import POCareCore
import Synchronization

/// The web pages' way to PostgreSQL: libpq blocks, so its calls run on threads this type owns,
/// each with its own connection, never on Swift's cooperative pool or a NIO event loop. A
/// request hands its work over and awaits the answer.
public final class DatabaseWorkers: Sendable {
    private struct Queue {
        var jobs: [@Sendable (PostgresConnection?) -> Void] = []
        var stopping = false
    }

    private let queue = Mutex(Queue())
    private let available = DispatchSemaphore(value: 0)
    private let threads: [DedicatedThread]
    private let connectionInfo: String
    private let logger: Logger

    public init(connectionInfo: String, count: Int, logger: Logger) {
        self.connectionInfo = connectionInfo
        self.logger = logger
        threads = (0..<max(1, count)).map { DedicatedThread(name: "web-db-\($0)") }
        for thread in threads { thread.start { [self] in work() } }
    }

    /// Runs `body` with a connection on one of the database threads.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = queue.withLock { q -> Bool in
                guard !q.stopping else { return false }
                q.jobs.append { connection in
                    guard let connection else {
                        continuation.resume(throwing: PostgresError(kind: .connection, message: "the database is not reachable"))
                        return
                    }
                    do { continuation.resume(returning: try body(connection)) } catch { continuation.resume(throwing: error) }
                }
                return true
            }
            if accepted {
                available.signal()
            } else {
                continuation.resume(throwing: PostgresError(kind: .connection, message: "the web pages are stopping"))
            }
        }
    }

    /// Refuses new work, lets the threads finish what they hold, and waits for them at most
    /// `limit` (a thread stuck on a database that stopped answering is left behind).
    public func stop(within limit: Duration) async {
        queue.withLock { $0.stopping = true }
        for _ in threads { available.signal() }
        for thread in threads where !(await thread.joined(within: limit)) {
            logger.warning("a web database thread is still waiting for the database; stopping without it", metadata: ["thread": "\(thread.name)"])
        }
    }

    private func work() {
        var connection: PostgresConnection?
        while true {
            available.wait()
            let job = queue.withLock { q -> (@Sendable (PostgresConnection?) -> Void)? in
                q.jobs.isEmpty ? nil : q.jobs.removeFirst()
            }
            guard let job else {
                if queue.withLock({ $0.stopping }) { return }
                continue
            }
            if connection == nil || connection?.isConnected == false {
                do {
                    connection = try PostgresConnection(connectionInfo)
                } catch {
                    logger.error("web pages cannot reach the database", metadata: ["error": "\(error)"])
                    connection = nil
                }
            }
            job(connection)
        }
    }
}
