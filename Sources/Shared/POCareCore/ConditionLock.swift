#if canImport(Glibc)
import Glibc
#endif

/// State shared between threads that wait for each other: a pthread mutex guards `State`, and a
/// condition variable whose timed waits run on CLOCK_MONOTONIC (a wall-clock step never holds a
/// waiter back) wakes those waiting for it to change. For hand-offs between threads a part owns
/// (a queue between a reader and writers), where a `Mutex` alone would have to poll.
///
/// Unchecked Sendable, and why that holds: `state` is read and written only inside `withLock`
/// and `wait`, that is with the mutex held, and the mutex and condition are only touched through
/// their pthread calls, which are made for use from many threads.
public final class ConditionLock<State>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var state: State

    public init(_ initial: State) {
        state = initial
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` with the state under the lock, and wakes every waiter afterwards.
    public func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer {
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
        return try body(&state)
    }

    /// Waits while `blocked` holds, at most until the monotonic `deadline` (nanoseconds, nil:
    /// no limit), then runs `body` under the lock and wakes the other waiters.
    public func wait<T>(while blocked: (State) -> Bool, until deadline: Int64? = nil, then body: (inout State) throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer {
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
        while blocked(state) {
            if let deadline {
                guard MonotonicClock.now() < deadline else { break }
                var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
                pthread_cond_timedwait(&condition, &mutex, &ts)
            } else {
                pthread_cond_wait(&condition, &mutex)
            }
        }
        return try body(&state)
    }
}
