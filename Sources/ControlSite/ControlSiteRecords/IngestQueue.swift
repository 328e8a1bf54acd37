import Foundation

/// Hands messages from the MQTT thread to the writer thread. Bounded: when the database falls
/// behind, the MQTT thread stops reading and the broker holds the rest (QoS 1, persistent session).
final class IngestQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [IngestWriter.Item] = []
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func append(_ item: IngestWriter.Item) {
        condition.lock()
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits up to `timeout` for room; returns whether there is room.
    func waitForRoom(timeout: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while items.count >= capacity && !closed {
            if !condition.wait(until: deadline) { break }
        }
        return items.count < capacity
    }

    /// Takes up to `limit` items, waiting while there are none; empty once closed and drained.
    func take(limit: Int) -> [IngestWriter.Item] {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        let taken = Array(items.prefix(limit))
        items.removeFirst(taken.count)
        condition.broadcast()
        return taken
    }

    /// No more items will come; `take` returns what is left, then nothing.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count
    }
}
