extension PostgresConnection {
    /// Reads a query's rows a chunk at a time through a server-side cursor, so a large result
    /// never sits in memory whole: two chunks at most, the next one read by the server while
    /// `body` takes the last one apart. `checkpoint` runs before each fetch and may throw to stop
    /// (a page over its time budget, a client gone). Opens a transaction of its own unless one
    /// is open already.
    public func forEachChunk(
        _ sql: String, _ parameters: [String?], chunk: Int, checkpoint: () throws -> Void = {}, _ body: (PostgresResult) throws -> Void
    ) throws {
        let own = !inTransaction
        if own { try begin() }
        let fetch = "FETCH FORWARD \(max(1, chunk)) FROM chunked"
        var inFlight = false
        do {
            try execute("DECLARE chunked NO SCROLL CURSOR FOR " + sql, parameters)
            try checkpoint()
            try send(fetch)
            inFlight = true
            while true {
                inFlight = false
                let rows = try received(fetch)
                if rows.rowCount == 0 { break }
                try checkpoint()
                // The server reads the next chunk while this one is taken apart: two chunks in memory at most.
                try send(fetch)
                inFlight = true
                try body(rows)
            }
            try execute("CLOSE chunked")
            if own { try commit() }
        } catch {
            // Best-effort cleanup: the error that brought us here is the one thrown. A chunk
            // still coming is read first; libpq takes no other statement before it.
            if inFlight { _ = try? received(fetch) }
            if own { rollback() } else { _ = try? execute("CLOSE chunked") }
            throw error
        }
    }
}
