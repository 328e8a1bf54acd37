#if canImport(Glibc)
import Glibc
#endif

/// A mutex and condition variable whose timed waits run on CLOCK_MONOTONIC, so a wall-clock
/// step (NTP, an operator fixing the date) can never hold back a commit.
///
/// Unchecked Sendable: the pthread mutex and condition are made for use from many threads;
/// they are only ever touched through their pthread calls.
public final class MonotonicCondition: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init() {
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

    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
    func broadcast() { pthread_cond_broadcast(&condition) }
    func wait() { pthread_cond_wait(&condition, &mutex) }

    /// Waits until signalled or until the monotonic deadline (nanoseconds) passes.
    func wait(until deadline: Int64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(&condition, &mutex, &ts)
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
