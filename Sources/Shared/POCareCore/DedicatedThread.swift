import Dispatch
import Foundation
import Synchronization

/// The one way a POCare part runs its blocking C work (libmodbus, sqlite3, libmosquitto, libpq)
/// off Swift's cooperative pool: a named thread of its own that runs `body` once, and `join` to
/// wait until the body has returned. The part that owns the C handle owns the thread, and only
/// that thread touches the handle.
public final class DedicatedThread: Sendable {
    public let name: String
    private let started = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    /// Whether the body has returned, and the tasks awaiting that.
    private final class Completion: Sendable {
        let state = Mutex<(done: Bool, waiters: [Waiter])>((false, []))
    }
    /// One task awaiting the thread: resumed once, by the thread's end or its time limit, whichever comes first.
    private final class Waiter: Sendable {
        private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        func wait(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation.withLock { $0 = continuation } }
        func resume(_ finished: Bool) {
            continuation.withLock { c -> CheckedContinuation<Bool, Never>? in
                defer { c = nil }
                return c
            }?.resume(returning: finished)
        }
    }
    private let completion = Completion()

    public init(name: String) { self.name = name }

    /// Starts the thread; a second call does nothing.
    public func start(_ body: @escaping @Sendable () -> Void) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [finished, completion] in
            body()
            finished.signal()
            let waiters = completion.state.withLock {
                $0.done = true
                let waiting = $0.waiters
                $0.waiters = []
                return waiting
            }
            for waiter in waiters { waiter.resume(true) }
        }
        thread.name = name
        thread.start()
    }

    public var isStarted: Bool { started.load(ordering: .acquiring) }

    /// Waits until the body has returned; at once if the thread never started. Any number of
    /// callers, from any thread (never from the cooperative pool: it blocks; a task awaits
    /// `joined(within:)` instead).
    public func join() {
        guard isStarted else { return }
        finished.wait()
        finished.signal()
    }

    /// Suspends, without holding a thread, until the body has returned or `limit` has passed;
    /// whether it returned. A thread stuck in a C call that never returns (a database that
    /// stopped answering) is left behind rather than holding up a stop.
    public func joined(within limit: Duration) async -> Bool {
        guard isStarted else { return true }
        // A timer, not a sleeping task: a stop runs in a task already cancelled, where a sleep
        // ends at once and the thread would never be waited for.
        let waiter = Waiter()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            waiter.wait(continuation)
            let done = completion.state.withLock { state -> Bool in
                if !state.done { state.waiters.append(waiter) }
                return state.done
            }
            if done { return waiter.resume(true) }
            let nanoseconds = max(0, limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { waiter.resume(false) }
        }
    }
}
