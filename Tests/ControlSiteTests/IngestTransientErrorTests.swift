import ControlSiteRecords
import Foundation
import Logging
import POCareContract
import Testing
import TestSupport

/// What the database cannot do now it may do later: ingest keeps the messages and tries them
/// again, and never refuses one as if it were malformed (which would leave its records to a replay).
@Suite("Ingest waits out what the database cannot do now")
struct IngestTransientErrorTests {
    @Test("a lock held past the database's lock_timeout: the messages are tried again, none is refused, and all arrive once it is gone")
    func lockTimeout() async throws {
        let db = try IngestDatabase()
        let feed = SiteFeed(site: "site-a")
        try db.write([feed.telemetry("rocker-1", 1...20)])
        try db.connection.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = ''200ms''', current_database()); END $$")
        let blocker = try PostgresConnection(db.connectionInfo)
        try blocker.execute("BEGIN")
        try blocker.execute("LOCK TABLE streams IN ACCESS EXCLUSIVE MODE")

        let pipeline = IngestPipeline(database: db.connectionInfo, writers: 1, batchMessages: 2, queueCapacity: 100, logger: Logger(label: "test"))
        for first in stride(from: Int64(21), through: 101, by: 20) {
            pipeline.submit(.message(try ContractMessage.of(feed.telemetry("rocker-1", first...(first + 19)))))
        }
        // Several lock timeouts pass meanwhile (200 ms each), each one tried again.
        try await Task.sleep(for: .seconds(2))
        #expect(pipeline.currentStatistics.rejected == 0 && pipeline.currentStatistics.inserted == 0)
        try blocker.execute("COMMIT")
        #expect(await waitFor(upTo: .seconds(30)) { pipeline.currentStatistics.inserted == 100 })
        pipeline.close()
        #expect(await pipeline.finished(within: .seconds(10)))
        #expect(try db.count("SELECT count(*) FROM refused_messages") == 0)
        #expect(try db.scalar("SELECT contiguous || '/' || highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "120/120")
    }
}
