import POCareCore

/// Hands messages from the MQTT thread to one writer thread. Bounded: when the database falls
/// behind, the MQTT thread stops reading and the broker holds the rest (QoS 1, persistent session).
final class IngestQueue: Sendable {
    private struct State {
        var items: [IngestWriter.Item] = []
        var closed = false
    }

    private let state = ConditionLock(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func append(_ item: IngestWriter.Item) {
        state.withLock { $0.items.append(item) }
    }

    /// Waits up to `timeout` seconds for room; returns whether there is room.
    func waitForRoom(timeout: Double) -> Bool {
        let deadline = MonotonicClock.now() + Int64(timeout * 1e9)
        return state.wait(while: { $0.items.count >= capacity && !$0.closed }, until: deadline) { $0.items.count < capacity }
    }

    /// Takes up to `limit` items, waiting while there are none; empty once closed and drained.
    func take(limit: Int) -> [IngestWriter.Item] {
        state.wait(while: { $0.items.isEmpty && !$0.closed }) { state in
            let taken = Array(state.items.prefix(limit))
            state.items.removeFirst(taken.count)
            return taken
        }
    }

    /// No more items will come; `take` returns what is left, then nothing.
    func close() { state.withLock { $0.closed = true } }

    /// Empties the queue and says how many items it held (a stop that cannot wait for the database).
    func abandon() -> Int {
        state.withLock { state in
            let count = state.items.count
            state.items = []
            state.closed = true
            return count
        }
    }

    var count: Int { state.withLock { $0.items.count } }
}
