extension PostgresConnection {
    /// Reads a query's rows a chunk at a time through a server-side cursor, so a large result
    /// never sits in memory whole. `checkpoint` runs before each fetch and may throw to stop
    /// (a page over its time budget, a client gone). Opens a transaction of its own unless one
    /// is open already.
    public func forEachChunk(
        _ sql: String, _ parameters: [String?], chunk: Int, checkpoint: () throws -> Void = {}, _ body: (PostgresResult) throws -> Void
    ) throws {
        let own = !inTransaction
        if own { try begin() }
        do {
            try execute("DECLARE chunked NO SCROLL CURSOR FOR " + sql, parameters)
            while true {
                try checkpoint()
                let rows = try execute("FETCH FORWARD \(max(1, chunk)) FROM chunked")
                if rows.rowCount == 0 { break }
                try body(rows)
            }
            try execute("CLOSE chunked")
            if own { try commit() }
        } catch {
            // Best-effort cleanup: the error that brought us here is the one thrown.
            if own { rollback() } else { _ = try? execute("CLOSE chunked") }
            throw error
        }
    }
}
