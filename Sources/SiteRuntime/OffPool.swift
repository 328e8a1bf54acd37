import Dispatch

/// Runs blocking work (SQLite reads, joining a thread) on a dispatch thread and waits for it
/// without holding one of Swift's few cooperative threads.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .utility).async { continuation.resume(returning: work()) }
    }
}
