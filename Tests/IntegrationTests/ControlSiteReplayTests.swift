import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Completeness at the Control Site rests on the site's store: pocare-control asks the site to
/// replay what it lacks. These run the real parts: pocared with its simulator, mosquitto,
/// PostgreSQL and pocare-control processes.
@Suite("pocare-control asks a real site to replay what it lacks", .serialized)
struct ControlSiteReplayTests {
    /// Per stream of the Control Site's current records of the site: contiguous and highest.
    private func progress(_ db: PostgresConnection) throws -> [String: (contiguous: Int64, highest: Int64)] {
        let rows = try db.execute("""
            SELECT stream, contiguous, highest FROM streams
            WHERE site = 'durability' AND epoch = (SELECT epoch FROM sites WHERE site = 'durability')
            """)
        var result: [String: (Int64, Int64)] = [:]
        for r in 0..<rows.rowCount { result[rows.string(r, 0) ?? ""] = (rows.int(r, 1) ?? 0, rows.int(r, 2) ?? 0) }
        return result
    }

    /// Every number the site has committed is stored at the Control Site, in every stream.
    private func holdsEverything(_ db: PostgresConnection, committed: [String: [Int64]]) -> Bool {
        guard let stored = try? progress(db) else { return false }
        return committed.allSatisfy { stream, numbers in (stored[stream]?.contiguous ?? 0) >= Int64(numbers.count) }
    }

    private func writeConfig(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a kill -9 of pocare-control with records the broker considers delivered still in memory: the gaps it leaves are filled by replay, every committed sample stored once")
    func killDuringBacklog() async throws {
        let database = try TestPostgres()
        let broker = try TestBroker()
        let db = try PostgresConnection(database.postgresConnectionInfo)
        // The Control Site signs its replay requests; the site holds its public key.
        let controlSite = try ControlSiteTestKey(), keyFile = try controlSite.keyFile()
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        // One writer and a small queue, so what the instance holds when it dies is known to be a few messages.
        let base = """
            broker: \(broker.url)
            client_id: control-kill
            database: "\(database.postgresConnectionInfo)"
            writers: 1
            queue_capacity: 10
            batch_messages: 5
            identity_key: \(keyFile)
            """
        let withoutReplay = try writeConfig(base + "\nreplay_after: off\n")
        let withReplay = try writeConfig(base + "\nreplay_after: 1s\n")
        defer {
            try? FileManager.default.removeItem(atPath: withoutReplay)
            try? FileManager.default.removeItem(atPath: withReplay)
        }
        let first = try RunningProcess("pocare-control", ["run", "--config", withoutReplay])
        defer { first.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { first.errors.contains { $0.contains("subscribed") } })

        let fixture = try DaemonFixture(pollInterval: "50ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-kill, \(controlSite.siteConfig) }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { ((try? progress(db))?["rocker-1/telemetry"]?.contiguous ?? 0) > 0 })

        // The database stops taking writes; the instance keeps reading (and libmosquitto keeps
        // acknowledging) until its queue is full, then dies with those messages in memory.
        try db.execute("BEGIN")
        try db.execute("LOCK TABLE streams IN ACCESS EXCLUSIVE MODE")
        let storedBefore = try #require(committedNumbers(fixture.storePath)["rocker-1/telemetry"]?.count)
        #expect(await waitFor(upTo: .seconds(20)) { ((try? committedNumbers(fixture.storePath))?["rocker-1/telemetry"]?.count ?? 0) > storedBefore + 60 })
        first.kill9()
        try db.execute("ROLLBACK")

        // Restarted without replay, the instance gets everything the broker still held, and the
        // acknowledged messages it lost stay missing: gaps the broker will never fill.
        let second = try RunningProcess("pocare-control", ["run", "--config", withoutReplay])
        var lost: [(stream: String, from: Int64, to: Int64)] = []
        #expect(await waitFor(upTo: .seconds(30)) {
            let gaps = (try? db.execute("SELECT stream, seq_from, seq_to FROM gaps WHERE site = 'durability'"))
            lost = (0..<(gaps?.rowCount ?? 0)).map { (gaps!.string($0, 0)!, gaps!.int($0, 1)!, gaps!.int($0, 2)!) }
            return lost.contains { $0.stream.hasSuffix("/telemetry") }
        }, "a kill -9 with a full queue loses acknowledged messages")
        // Once records committed after this point have arrived, the broker has nothing older left.
        let snapshot = try committedNumbers(fixture.storePath)
        #expect(await waitFor(upTo: .seconds(20)) {
            let stored = (try? progress(db)) ?? [:]
            return snapshot.filter { $0.key.hasSuffix("/telemetry") }.allSatisfy { (stored[$0.key]?.highest ?? 0) >= Int64($0.value.count) }
        })
        let gaps = try db.execute("SELECT stream, seq_from, seq_to FROM gaps WHERE site = 'durability'")
        lost = (0..<gaps.rowCount).map { (gaps.string($0, 0)!, gaps.int($0, 1)!, gaps.int($0, 2)!) }
        #expect(!lost.isEmpty)
        second.stop()

        // With replay the instance asks the site for each gap and every stream's tail.
        let third = try RunningProcess("pocare-control", ["run", "--config", withReplay])
        defer { third.stop() }
        let complete = await waitFor(upTo: .seconds(90)) {
            ((try? db.execute("SELECT count(*) FROM gaps WHERE site = 'durability'").int(0, 0)) ?? 1) == 0
                && holdsEverything(db, committed: (try? committedNumbers(fixture.storePath)) ?? [:])
        }
        #expect(complete, "\(third.errors.suffix(10))")
        // Each range the broker would never have sent again was asked for and sent by the site.
        func filledByReplay(_ gap: (stream: String, from: Int64, to: Int64)) -> Bool {
            let done = try? db.execute("""
                SELECT count(*) FROM replay_requests
                WHERE site = 'durability' AND stream = $1 AND state = 'done' AND sending_from <= $2 AND sending_to >= $3
                """, [gap.stream, String(gap.from), String(gap.to)])
            return (done?.int(0, 0) ?? 0) >= 1
        }
        #expect(await waitFor(upTo: .seconds(10)) { lost.allSatisfy(filledByReplay) },
                "\(lost) \((try? db.execute("SELECT stream, seq_from, seq_to, cause, state FROM replay_requests").rows) ?? [])")

        // The site stops; everything it committed is stored exactly once.
        daemon.stop()
        let committed = try committedNumbers(fixture.storePath)
        #expect(await waitFor(upTo: .seconds(20)) { holdsEverything(db, committed: committed) })
        for (stream, numbers) in committed where stream.hasSuffix("/telemetry") {
            let stored = try db.execute("SELECT count(*), min(seq), max(seq) FROM samples WHERE site = 'durability' AND stream = $1", [stream])
            #expect(stored.int(0, 0) == Int64(numbers.count) && stored.int(0, 1) == 1 && stored.int(0, 2) == Int64(numbers.count), "\(stream)")
        }
        let integrity = try run("pocare-control", ["integrity", "--database", database.postgresConnectionInfo])
        #expect(integrity.status == 0, "\(integrity.output)")
    }

    @Test("a dropped Control Site database is rebuilt from the site's store by a fresh pocare-control; an audit entry edited in the store is set aside as hash_mismatch, a replaced store an epoch change")
    func rebuildTamperReplace() async throws {
        let database = try TestPostgres()
        let broker = try TestBroker()
        let admin = try PostgresConnection(database.postgresConnectionInfo)
        try admin.execute("CREATE DATABASE control")
        let conninfo = database.postgresConnectionInfo.replacingOccurrences(of: "dbname=postgres", with: "dbname=control")
        let controlSite = try ControlSiteTestKey(), keyFile = try controlSite.keyFile()
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        func config(_ clientId: String) throws -> String {
            try writeConfig("""
                broker: \(broker.url)
                client_id: \(clientId)
                database: "\(conninfo)"
                replay_after: 1s
                identity_key: \(keyFile)
                """)
        }
        let firstConfig = try config("control-first"), freshConfig = try config("control-fresh")
        defer {
            try? FileManager.default.removeItem(atPath: firstConfig)
            try? FileManager.default.removeItem(atPath: freshConfig)
        }

        // A site runs a while; the Control Site stores its records, then loses its database.
        let fixture = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-rebuild, \(controlSite.siteConfig) }")
        let first = try RunningProcess("pocare-control", ["run", "--config", firstConfig])
        #expect(await waitFor(upTo: .seconds(20)) { first.errors.contains { $0.contains("subscribed") } })
        var daemon = try fixture.startDaemon()
        _ = await daemon.waitForLine(upTo: .seconds(3)) { _ in false }
        daemon.stop()
        var committed = try committedNumbers(fixture.storePath)
        #expect((committed["audit"]?.count ?? 0) >= 3, "daemon.start, batch.start, daemon.stop")
        var db = try PostgresConnection(conninfo)
        #expect(await waitFor(upTo: .seconds(20)) { holdsEverything(db, committed: committed) })
        first.stop()
        db = try PostgresConnection(database.postgresConnectionInfo)  // the old connection goes with the database
        try admin.execute("DROP DATABASE control WITH (FORCE)")
        try admin.execute("CREATE DATABASE control")

        // Meanwhile someone edits the second audit entry in the site's store.
        #expect(runStatus("/usr/bin/sqlite3", [fixture.storePath,
            "DROP TRIGGER audit_no_update; UPDATE audit SET hash = '\(String(repeating: "a", count: 64))' WHERE seq = 2"]) == 0)

        // A fresh instance meets the site (its birth), asks for everything from 1, and holds it all.
        let fresh = try RunningProcess("pocare-control", ["run", "--config", freshConfig])
        defer { fresh.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { fresh.errors.contains { $0.contains("subscribed") } })
        daemon = try fixture.startDaemon()
        db = try PostgresConnection(conninfo)
        // Everything but the edited entry, which no longer hashes to the hash it carries: it is
        // set aside on arrival, and its number stays missing.
        func holdsAllButTheEdited() -> Bool {
            let audit = committed["audit"]?.count ?? 0
            let others = committed.filter { $0.key != "audit" }
            let stored = (try? db.execute("SELECT count(*) FROM audit_entries WHERE site = 'durability' AND seq <> 2").int(0, 0)) ?? 0
            return holdsEverything(db, committed: others) && stored >= Int64(audit - 1)
        }
        let rebuilt = await waitFor(upTo: .seconds(40)) { holdsAllButTheEdited() }
        #expect(rebuilt, "\(fresh.errors.suffix(10))")
        daemon.stop()
        committed = try committedNumbers(fixture.storePath)
        #expect(await waitFor(upTo: .seconds(20)) { holdsAllButTheEdited() })
        for (stream, numbers) in committed where stream.hasSuffix("/telemetry") {
            let stored = try db.execute("SELECT count(*) FROM samples WHERE site = 'durability' AND stream = $1", [stream])
            #expect(stored.int(0, 0) == Int64(numbers.count), "\(stream): every sample once")
        }
        let replayed = try db.execute("SELECT count(*) FROM replay_requests WHERE state = 'done' AND sending_from = 1")
        #expect((replayed.int(0, 0) ?? 0) >= 2, "the records before the fresh start came back by replay")

        // The edited entry does not hash to the hash it carries.
        func findings() throws -> [[String: Any]] {
            let output = try run("pocare-control", ["integrity", "--json", "--database", conninfo]).output
            return ((try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any])?["findings"] as? [[String: Any]] ?? []
        }
        let breaks = try findings().filter { $0["kind"] as? String == "hash_mismatch" && $0["stream"] as? String == "audit" }
        #expect(breaks.contains { ($0["seq_from"] as? Int) == 2 && ($0["seq_to"] as? Int) == 2 }, "\(breaks)")

        // The store is removed and pocared starts on a new one: another epoch, a finding.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fixture.storePath + suffix) }
        daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(30)) { ((try? findings()) ?? []).contains { $0["kind"] as? String == "epoch_change" } })
        let integrity = try run("pocare-control", ["integrity", "--database", conninfo])
        #expect(integrity.status == 1 && integrity.output.contains("epoch_change") && integrity.output.contains("hash_mismatch"))
    }
}
