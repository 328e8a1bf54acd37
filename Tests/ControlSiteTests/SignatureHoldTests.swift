import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Logging
import POCareContract
import Testing
import TestSupport

@Suite("A signature holds one batch's record still, not the ingest", .serialized)
struct SignatureHoldTests {
    @Test("while a signature holds a batch's record, that batch's new records wait and then mark the signature's record changed; another batch's records arrive meanwhile")
    func holdsOneBatch() async throws {
        let db = try IngestDatabase()
        let feed = SiteFeed(site: "site-a", start: Date())
        try db.write([feed.telemetry("str-1", 1...10, batch: "HELD", phase: "expansion"), feed.telemetry("str-2", 1...10, batch: "FREE", phase: "expansion")])

        let before = try #require(try db.scalar("SELECT version FROM batch_record_versions WHERE batch = 'HELD'").flatMap { Int($0) })
        // A signature of HELD in progress, on a connection of its own, as BatchSignatures.sign holds it.
        let signer = try PostgresConnection(db.connectionInfo)
        try signer.execute("BEGIN")
        try BatchSignatures.holdRecord(site: "site-a", batch: "HELD", on: signer)
        try signer.execute("INSERT INTO batch_dispositions (site, batch, state, record_hash) VALUES ('site-a', 'HELD', 'qa_reviewed', 'x')")

        let connectionInfo = db.connectionInfo, more = feed.telemetry("str-1", 11...20, batch: "HELD", phase: "expansion")
        async let heldWrite: Int = onOwnThread {
            let writer = try IngestWriter(connection: try PostgresConnection(connectionInfo), logger: Logger(label: "test"))
            return try writer.write([.message(try ContractMessage.of(more))]).inserted
        }
        // HELD's new records wait for the signature: their writer waits on a lock.
        // Generous: under a parallel suite the writer's thread may take a while to get there.
        #expect(await waitFor(upTo: .seconds(120)) {
            (try? db.count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")) ?? 0 >= 1
        })
        // Another batch's records are written meanwhile, by the same ingest.
        let free = try await onOwnThread { try db.write([feed.telemetry("str-2", 11...20, batch: "FREE", phase: "expansion")]).inserted }
        #expect(free == 10)
        #expect(try db.count("SELECT count(*) FROM samples WHERE batch = 'HELD'") == 10)

        try signer.execute("COMMIT")
        #expect(try await heldWrite == 10)
        #expect(try db.count("SELECT count(*) FROM samples WHERE batch = 'HELD'") == 20)
        #expect(try db.scalar("SELECT record_changed IS NOT NULL FROM batch_dispositions WHERE batch = 'HELD'") == "t",
                "the record changed after the signature: it is marked, and the signature shows INVALID")
        #expect(try db.scalar("SELECT version FROM batch_record_versions WHERE batch = 'HELD'").flatMap { Int($0) } ?? 0 > before)
    }
}
