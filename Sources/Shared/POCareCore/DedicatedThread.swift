import Dispatch
import Foundation
import Synchronization

/// The one way a POCare part runs its blocking C work (libmodbus, sqlite3, libmosquitto) off
/// Swift's cooperative pool: a named thread of its own that runs `body` once, and `join` to
/// wait until the body has returned. The part that owns the C handle owns the thread, and only
/// that thread touches the handle.
public final class DedicatedThread: Sendable {
    public let name: String
    private let started = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    public init(name: String) { self.name = name }

    /// Starts the thread; a second call does nothing.
    public func start(_ body: @escaping @Sendable () -> Void) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [finished] in
            body()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    public var isStarted: Bool { started.load(ordering: .acquiring) }

    /// Waits until the body has returned; at once if the thread never started. Any number of
    /// callers, from any thread (never from the cooperative pool: it blocks).
    public func join() {
        guard isStarted else { return }
        finished.wait()
        finished.signal()
    }
}
