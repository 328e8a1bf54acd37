import ControlSiteRecords
import Testing
import TestSupport

/// Large results are read a chunk at a time through a cursor, the next chunk fetched while the
/// last one is taken apart. However a reading stops, the connection is left ready for the next
/// statement, in the caller's transaction or out of one.
@Suite("Reading a large result a chunk at a time")
struct ChunkedReadingTests {
    struct Stop: Error {}

    @Test("every row arrives once and in order across chunks, with the reader's own statements between them; a reading stopped by its reader or its checkpoint leaves the connection ready")
    func chunksAndStops() throws {
        let cluster = try TestPostgres()
        let connection = try PostgresConnection(cluster.postgresConnectionInfo)
        let numbers = "SELECT n FROM generate_series(1, 10000) AS n ORDER BY n"

        var seen: [Int64] = []
        try connection.forEachChunk(numbers, [], chunk: 333) { rows in
            for r in 0..<rows.rowCount { seen.append(rows.int(r, "n") ?? -1) }
        }
        #expect(seen == Array(1...10_000))
        #expect(!connection.inTransaction)

        // The reader runs statements of its own between chunks (a large sample read by its key):
        // each is answered, and the rows still arrive once and in order.
        var interleaved: [Int64] = [], answers: [Int64] = []
        try connection.forEachChunk(numbers, [], chunk: 250) { rows in
            answers.append(try connection.execute("SELECT $1::bigint * 2 AS twice", [rows.string(0, 0)]).int(0, "twice") ?? -1)
            for r in 0..<rows.rowCount { interleaved.append(rows.int(r, "n") ?? -1) }
        }
        #expect(interleaved == Array(1...10_000))
        #expect(answers == stride(from: 1, through: 10_000, by: 250).map { Int64($0) * 2 })

        // The reader stops while the next chunk is on its way: the error is the reader's, and the connection answers.
        var chunks = 0
        #expect(throws: Stop.self) {
            try connection.forEachChunk(numbers, [], chunk: 100) { _ in
                chunks += 1
                if chunks == 3 { throw Stop() }
            }
        }
        #expect(chunks == 3 && !connection.inTransaction)
        #expect(try connection.execute("SELECT 41 + 1 AS answer").int(0, "answer") == 42)

        // Inside the caller's transaction, stopped by its checkpoint: the transaction is the caller's to end, and usable.
        try connection.begin()
        var checks = 0
        #expect(throws: Stop.self) {
            try connection.forEachChunk(numbers, [], chunk: 100, checkpoint: {
                checks += 1
                if checks == 5 { throw Stop() }
            }) { _ in }
        }
        #expect(connection.inTransaction)
        #expect(try connection.execute("SELECT count(*) AS n FROM pg_cursors").int(0, "n") == 0, "the cursor is closed")
        try connection.commit()

        // A statement that fails on the server, mid-way through: its error, and the connection still answers.
        #expect(throws: PostgresError.self) {
            try connection.forEachChunk("SELECT 1 / (5000 - n) AS x FROM generate_series(1, 10000) AS n", [], chunk: 100) { _ in }
        }
        #expect(try connection.execute("SELECT 42 AS answer").int(0, "answer") == 42)
    }
}
