import ControlSiteRecords
import POCareContract
import Foundation
import Logging
import POCareCore
import Synchronization

/// The web pages' way to PostgreSQL: libpq blocks, so its calls run on threads this type owns,
/// each with its own connection, never on Swift's cooperative pool or a NIO event loop. A
/// request hands its work over and awaits the answer.
///
/// The cost of a page is bounded: at most `queue` jobs wait (more are refused at once, `busy`),
/// each job has a time budget from when a thread takes it (each statement is limited to it in
/// the server, a cancel is sent when it runs out, and the job's checkpoints stop it), and a job
/// whose request is cancelled (the client left) has its statement cancelled too.
public final class DatabaseWorkers: Sendable {
    public struct Limits: Sendable {
        public var threads: Int
        public var queue: Int
        public var budgetSeconds: Double
        public init(threads: Int, queue: Int, budgetSeconds: Double) {
            self.threads = threads
            self.queue = queue
            self.budgetSeconds = budgetSeconds
        }
    }

    /// Why a page was not prepared.
    public enum Refusal: Error, CustomStringConvertible, Sendable, Equatable {
        case busy(waiting: Int)
        case overBudget(seconds: Double)
        case cancelled
        case stopping

        public var description: String {
            switch self {
            case .busy(let waiting): "\(waiting) pages are already waiting to be prepared; try again shortly"
            case .overBudget(let seconds): "the page could not be prepared within its time budget of \(formatNumber(seconds)) s"
            case .cancelled: "the request was cancelled"
            case .stopping: "the web pages are stopping"
            }
        }
    }

    /// What a running job may ask: whether it should stop.
    public final class Budget: Sendable {
        public let seconds: Double
        private let deadline = Mutex<ContinuousClock.Instant?>(nil)
        private let cancelledFlag = Atomic<Bool>(false)
        private let expiredFlag = Atomic<Bool>(false)

        init(seconds: Double) { self.seconds = seconds }

        func start() { deadline.withLock { $0 = .now + .milliseconds(Int64(seconds * 1000)) } }
        func cancel() { cancelledFlag.store(true, ordering: .relaxed) }
        func expire() { expiredFlag.store(true, ordering: .relaxed) }
        var isCancelled: Bool { cancelledFlag.load(ordering: .relaxed) }
        var isExpired: Bool {
            expiredFlag.load(ordering: .relaxed) || deadline.withLock { $0.map { ContinuousClock.now >= $0 } ?? false }
        }

        /// Throws when the job should stop: its request was cancelled, or its time is up.
        public func check() throws {
            if isCancelled { throw Refusal.cancelled }
            if isExpired { throw Refusal.overBudget(seconds: seconds) }
        }
    }

    private struct Job {
        var id: Int
        var budget: Budget
        var run: @Sendable (PostgresConnection?) -> Void
    }

    private struct State {
        var jobs: [Job] = []
        /// The canceller of the connection running each job, by job id.
        var running: [Int: PostgresCanceller] = [:]
        var nextId = 0
        var stopping = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let threads: [DedicatedThread]
    private let connectionInfo: String
    private let limits: Limits
    private let logger: Logger

    public init(connectionInfo: String, name: String = "web-db", limits: Limits, logger: Logger) {
        self.connectionInfo = connectionInfo
        self.limits = limits
        self.logger = logger
        threads = (0..<max(1, limits.threads)).map { DedicatedThread(name: "\(name)-\($0)") }
        for thread in threads { thread.start { [self] in work() } }
    }

    /// Runs `body` with a connection on one of the database threads, within the time budget.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Budget) throws -> T) async throws -> T {
        let budget = Budget(seconds: limits.budgetSeconds)
        let id = state.withLock { s -> Int in
            s.nextId += 1
            return s.nextId
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                let job = Job(id: id, budget: budget) { connection in
                    guard let connection else {
                        continuation.resume(throwing: PostgresError(kind: .connection, message: "the database is not reachable"))
                        return
                    }
                    do {
                        try budget.check()
                        continuation.resume(returning: try body(connection, budget))
                    } catch {
                        continuation.resume(throwing: Self.refusal(for: error, budget: budget) ?? error)
                    }
                }
                let refused = state.withLock { s -> Refusal? in
                    if s.stopping { return .stopping }
                    guard s.jobs.count < limits.queue else { return .busy(waiting: s.jobs.count) }
                    s.jobs.append(job)
                    return nil
                }
                if let refused { continuation.resume(throwing: refused) } else { available.signal() }
            }
        } onCancel: {
            budget.cancel()
            // Under the lock, so the cancel can only reach this job's statement, never the next job's.
            state.withLock { _ = $0.running[id]?.cancel() }
        }
    }

    /// Runs `body` with a connection, for work that needs no checkpoints of its own.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await run { connection, _ in try body(connection) }
    }

    /// A statement the server cancelled (SQLSTATE 57014), said as why it was cancelled.
    static func refusal(for error: Error, budget: Budget) -> Refusal? {
        if let refusal = error as? Refusal { return refusal }
        guard let postgres = error as? PostgresError, postgres.sqlState == "57014" else { return nil }
        return budget.isCancelled ? .cancelled : .overBudget(seconds: budget.seconds)
    }

    /// Refuses new work, lets the threads finish what they hold, and waits for them at most
    /// `limit` (a thread stuck on a database that stopped answering is left behind).
    public func stop(within limit: Duration) async {
        state.withLock { $0.stopping = true }
        for _ in threads { available.signal() }
        for thread in threads where !(await thread.joined(within: limit)) {
            logger.warning("a web database thread is still waiting for the database; stopping without it", metadata: ["thread": "\(thread.name)"])
        }
    }

    private func work() {
        var connection: PostgresConnection?
        var canceller: PostgresCanceller?
        while true {
            available.wait()
            let job = state.withLock { s -> Job? in s.jobs.isEmpty ? nil : s.jobs.removeFirst() }
            guard let job else {
                if state.withLock({ $0.stopping }) { return }
                continue
            }
            if connection == nil || connection?.isConnected == false {
                do {
                    connection = try PostgresConnection(connectionInfo)
                    canceller = connection?.canceller()
                } catch {
                    logger.error("web pages cannot reach the database", metadata: ["error": "\(error)"])
                    connection = nil
                    canceller = nil
                }
            }
            job.budget.start()
            if let connection {
                // The server stops any one statement at the budget; the timer below stops the job's current one.
                // A failure here is the connection's, and the job's first statement reports it.
                _ = try? connection.execute("SET statement_timeout = \(max(1, Int(limits.budgetSeconds * 1000)))")
            }
            if let canceller { state.withLock { $0.running[job.id] = canceller } }
            let timer = DispatchWorkItem { [self] in
                job.budget.expire()
                state.withLock { _ = $0.running[job.id]?.cancel() }
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + limits.budgetSeconds, execute: timer)
            job.run(connection)
            state.withLock { _ = $0.running.removeValue(forKey: job.id) }
            timer.cancel()
            // A statement cancelled at the very end may leave an aborted transaction behind.
            if connection?.inTransaction == true { connection?.rollback() }
        }
    }
}
