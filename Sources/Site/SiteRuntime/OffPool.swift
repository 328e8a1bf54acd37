import Dispatch

/// Runs blocking work (SQLite reads, joining a thread) on a dispatch thread and waits for it
/// without holding one of Swift's few cooperative threads.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .utility).async { continuation.resume(returning: work()) }
    }
}

/// The same for work that fails with a typed error.
func offPool<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .utility).async { continuation.resume(returning: Result { () throws(E) -> T in try work() }) }
    }
    return try result.get()
}
