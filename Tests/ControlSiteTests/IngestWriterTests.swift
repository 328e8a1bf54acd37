import ControlSiteRecords
import POCareContract
import ControlSiteLink
import SiteStore
import Foundation
import Hashing
import Logging
import Testing
import TestSupport

/// A migrated database in a private cluster, and a writer on it.
final class IngestDatabase: @unchecked Sendable {
    let cluster: TestPostgres
    let connectionInfo: String
    let connection: PostgresConnection
    let writer: IngestWriter

    /// Whether `write` first makes each device known as a site does before its records: its
    /// metadata (a shipped profile), and its name among the site's devices as a birth leaves it.
    /// The tests of holding records aside turn this off and send births themselves.
    var announcesDevices: Bool
    private var announced = Set<String>()

    /// The chains and key of the sites a register names as signing (none without `siteKeys`).
    let chains: SiteChains

    /// `signing`: sites the Control Site knows by `chains`' key, `named`: by name alone; with
    /// neither, the Control Site holds no site register and takes every site's messages.
    init(announcesDevices: Bool = true, signing: [String] = [], named: [String] = []) throws {
        self.announcesDevices = announcesDevices
        chains = try SiteChains()
        cluster = try TestPostgres()
        connectionInfo = try cluster.createDatabase()
        connection = try PostgresConnection(connectionInfo)
        try ControlSchema.migrate(connection, logger: Logger(label: "test"))
        writer = try IngestWriter(connection: connection, logger: Logger(label: "test"),
                                  siteKeys: signing.isEmpty && named.isEmpty ? .open : chains.register(signing: signing, named: named))
    }

    @discardableResult
    func write(_ messages: [SiteFeed.Message]) throws -> IngestWriter.Outcome {
        if announcesDevices { try announce(messages) }
        return try writer.write(messages.map { .message(try ContractMessage.of($0)) })
    }

    /// The metadata of every device the messages' records come from that is not known yet, and
    /// its row among the site's devices (what a birth writes), without changing the site's state.
    func announce(_ messages: [SiteFeed.Message]) throws {
        for message in messages {
            let levels = message.topic.split(separator: "/").map(String.init)
            guard levels.count == 5, ["telemetry", "events"].contains(levels[4]), levels[3] != "site" else { continue }
            let site = levels[2], device = levels[3]
            guard announced.insert("\(site)/\(device)").inserted else { continue }
            let profile = device.hasPrefix("str") ? "stirred-tank-str10" : "rocking-bag-rb50"
            _ = try writer.write([.message(try ContractMessage.of(try SiteFeed(site: site).metadata(device, profile: profile)))])
            try connection.execute("""
                INSERT INTO site_devices (site, device, profile) VALUES ($1, $2, $3) ON CONFLICT (site, device) DO NOTHING
                """, [site, device, profile])
        }
    }

    func scalar(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try connection.execute(sql, parameters).string(0, 0)
    }

    func count(_ sql: String) throws -> Int { Int(try scalar(sql) ?? "0") ?? 0 }
}

@Suite("Ingest into PostgreSQL: de-duplication, gaps, chains, epochs", .serialized)
struct IngestWriterTests {
    let feed = SiteFeed(site: "site-a")

    @Test("every record is stored once; an identical resend is dropped by the database")
    func deduplicates() throws {
        let db = try IngestDatabase()
        let first = try db.write([feed.telemetry("rocker-1", 1...100), feed.event("rocker-1", seq: 1, kind: "alarm_raised")])
        #expect(first.inserted == 101 && first.duplicates == 0)
        // The same messages again, and a re-batched resend overlapping the first.
        let again = try db.write([feed.telemetry("rocker-1", 1...100), feed.telemetry("rocker-1", 90...120),
                                  feed.event("rocker-1", seq: 1, kind: "alarm_raised")])
        #expect(again.inserted == 20 && again.duplicates == 112 && again.conflicts == 0)
        #expect(try db.count("SELECT count(*) FROM samples") == 120)
        #expect(try db.count("SELECT count(*) FROM integrity_findings") == 0)
        #expect(try db.scalar("SELECT contiguous || '/' || highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "120/120")
    }

    @Test("telemetry beyond its stream's progress goes straight in: batch runs, newest time and counts as the staged path keeps them")
    func freshTelemetry() throws {
        let db = try IngestDatabase()
        let first = try db.write([feed.telemetry("rocker-1", 1...30, batch: "B1", phase: "expansion", spec: "sha256:aa"),
                                  feed.telemetry("rocker-1", 31...60, batch: "B1", phase: "harvest", spec: "sha256:aa")])
        #expect(first.inserted == 60 && first.duplicates == 0)
        try db.write([feed.telemetry("rocker-1", 61...70, batch: "B1", phase: "harvest", spec: "sha256:aa")])
        let runs = try db.connection.execute("""
            SELECT phase || ' ' || first_seq || '-' || last_seq || ' ' || samples || ' '
                   || to_char(first_time AT TIME ZONE 'UTC', 'HH24:MI:SS') || '-' || to_char(last_time AT TIME ZONE 'UTC', 'HH24:MI:SS') AS run
            FROM batch_runs ORDER BY first_seq
            """).map { $0.string("run") }
        let time = { (seq: Int64) in
            let f = DateFormatter()
            f.dateFormat = "HH:mm:ss"
            f.timeZone = TimeZone(identifier: "UTC")
            return f.string(from: feed.start.addingTimeInterval(Double(seq)))
        }
        #expect(runs == ["expansion 1-30 30 \(time(1))-\(time(30))", "harvest 31-70 40 \(time(31))-\(time(70))"])
        #expect(try db.scalar("""
            SELECT last_record_time = max(s.time) FROM streams t JOIN samples s USING (site, epoch, stream) GROUP BY t.last_record_time
            """) == "t")
        #expect(try db.scalar("SELECT records || '/' || contiguous || '/' || highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "70/70/70")
    }

    @Test("a sample stored beyond its stream's progress by another path is neither lost nor doubled: the transaction stages instead")
    func freshTelemetryMeetsStoredRow() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...10)])
        try db.connection.execute("""
            INSERT INTO samples (site, epoch, stream, seq, device, time, cycle, "values")
            SELECT site, epoch, stream, 15, device, time + interval '5 seconds', 15, "values" FROM samples WHERE seq = 10
            """)
        let outcome = try db.write([feed.telemetry("rocker-1", 11...20)])
        #expect(outcome.inserted == 9 && outcome.duplicates == 1)
        #expect(try db.count("SELECT count(*) FROM samples") == 20)
        #expect(try db.scalar("SELECT contiguous || '/' || highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "20/20")
    }

    @Test("a sample stored beyond its stream's progress at another time, in another month's partition, is not doubled")
    func freshTelemetryMeetsStoredRowOfAnotherMonth() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...10)])
        try db.connection.execute("SELECT samples_month_partition(now() - interval '2 months')")
        try db.connection.execute("""
            INSERT INTO samples (site, epoch, stream, seq, device, time, cycle, "values")
            SELECT site, epoch, stream, 15, device, time - interval '2 months', 15, "values" FROM samples WHERE seq = 10
            """)
        let outcome = try db.write([feed.telemetry("rocker-1", 11...20)])
        #expect(outcome.inserted == 9 && outcome.duplicates == 1 && outcome.conflicts == 1)
        #expect(try db.count("SELECT count(*) FROM samples") == 20)
        #expect(try db.count("SELECT count(*) FROM samples WHERE seq = 15") == 1)
        #expect(try db.scalar("SELECT contiguous || '/' || highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "20/20")
    }

    @Test("a second copy of a number at another time in the same write is one record and a dispute, not two rows")
    func twoCopiesAtDifferentTimesInOneWrite() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...4), feed.telemetry("rocker-1", 7...10)])
        // The replay of the gap 5...6 and a forged 5 dated two months back, staged in one transaction.
        let late = feed.telemetry("rocker-1", 5...6)
        var earlier = feed
        earlier.start = feed.start.addingTimeInterval(-61 * 86_400)
        let forged = earlier.telemetry("rocker-1", 5...5) { _ in ["temperature": 12.0, "ph": 7.2] }
        let outcome = try db.write([late, forged])
        #expect(outcome.inserted == 2 && outcome.duplicates == 1 && outcome.conflicts == 1)
        #expect(try db.count("SELECT count(*) FROM samples WHERE seq = 5") == 1)
        #expect(try db.scalar("SELECT \"values\"->>'temperature' FROM samples WHERE seq = 5") == "37")
    }

    @Test("a duplicate that differs from the stored record is an integrity finding, and the stored record stays")
    func conflictingDuplicate() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...10)])
        let outcome = try db.write([feed.telemetry("rocker-1", 5...5) { _ in ["temperature": 99.0, "ph": 7.2] }])
        #expect(outcome.conflicts == 1 && outcome.inserted == 0)
        #expect(try db.scalar("SELECT seq_from FROM integrity_findings WHERE kind = 'conflicting_duplicate'") == "5")
        #expect(try db.scalar("SELECT \"values\"->>'temperature' FROM samples WHERE seq = 5") == "37")
    }

    @Test("a gap becomes an integrity finding, resolved when the late records arrive")
    func gapFinding() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...10)])
        let outcome = try db.write([feed.telemetry("rocker-1", 21...30)])
        #expect(outcome.gapsOpened == 1)
        #expect(try db.scalar("SELECT seq_from || '...' || seq_to FROM integrity_findings WHERE kind = 'gap' AND resolved IS NULL") == "11...20")
        #expect(try db.scalar("SELECT contiguous FROM streams") == "10")
        try db.write([feed.telemetry("rocker-1", 11...15)])
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE resolved IS NULL") == 1)
        try db.write([feed.telemetry("rocker-1", 16...20)])
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE resolved IS NULL") == 0)
        #expect(try db.count("SELECT count(*) FROM gaps") == 0)
        #expect(try db.scalar("SELECT contiguous FROM streams") == "30")
    }

    @Test("an audit chain that links is accepted; an entry naming the wrong predecessor is a chain break")
    func chain() throws {
        let db = try IngestDatabase()
        var entries = feed.audit(4)
        try db.write(Array(entries[0...1]))
        #expect(try db.count("SELECT count(*) FROM integrity_findings") == 0)
        // Entry 4 names another predecessor and carries the hash of what it says: it hashes
        // right, but does not link.
        let action = AuditAction(user: "operator", action: "alarm.acknowledge", target: "A-4", reason: "checked")
        let ns = Int64(feed.start.timeIntervalSince1970 * 1e9) + 4
        let other = String(repeating: "e", count: 64)
        let forged = AuditEntry(seq: 4, time: feed.start.addingTimeInterval(4), timeNanoseconds: ns, action: action, previousHash: other,
                                hash: AuditEntry.hash(seq: 4, timeNanoseconds: ns, action: action, previousHash: other))
        entries[3].payload = String(decoding: Contract.audit(site: feed.site, entry: forged), as: UTF8.self)
        try db.write(Array(entries[2...3]))
        #expect(try db.scalar("SELECT seq_from || '-' || seq_to FROM integrity_findings WHERE kind = 'chain_break'") == "3-4")
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind LIKE 'hash%'") == 0)
    }

    @Test("telemetry links are checked inside a batch, in order or not, to the predecessor stored before it, and from the successor stored before it")
    func telemetryLinks() throws {
        let db = try IngestDatabase()
        func hash(_ seq: Int64) -> String { SHA256.hex("\(feed.site) rocker-1 \(seq)") }
        // Two messages in one transaction; the second names another hash before its first sample.
        var second = feed.telemetry("rocker-1", 6...10, hashed: true)
        second.payload = second.payload.replacingOccurrences(of: "\"previous_hash\":\"\(hash(5))\"", with: "\"previous_hash\":\"\(hash(99))\"")
        try db.write([feed.telemetry("rocker-1", 1...5, hashed: true), second])
        // Sample 12 names sample 11 as it should be, but 11 arrives with another hash; 21 names a forged 20 stored before it.
        try db.write([feed.telemetry("rocker-1", 12...15, hashed: true)])
        var eleven = feed.telemetry("rocker-1", 11...11, hashed: true)
        eleven.payload = eleven.payload.replacingOccurrences(of: "\"hash\":\"\(hash(11))\"", with: "\"hash\":\"\(hash(98))\"")
        try db.write([eleven])
        var twenty = feed.telemetry("rocker-1", 16...20, hashed: true)
        twenty.payload = twenty.payload.replacingOccurrences(of: "\"hash\":\"\(hash(20))\"", with: "\"hash\":\"\(hash(97))\"")
        try db.write([twenty])
        try db.write([feed.telemetry("rocker-1", 21...25, hashed: true)])
        // Two messages out of order in one transaction: put in order by number, the link where they meet is checked too.
        var late = feed.telemetry("rocker-1", 31...35, hashed: true)
        late.payload = late.payload.replacingOccurrences(of: "\"previous_hash\":\"\(hash(30))\"", with: "\"previous_hash\":\"\(hash(96))\"")
        try db.write([late, feed.telemetry("rocker-1", 26...30, hashed: true)])
        #expect(try db.count("SELECT count(*) FROM samples") == 35)
        let breaks = try db.scalar("""
            SELECT string_agg(seq_from || '-' || seq_to, ',' ORDER BY seq_from) FROM integrity_findings WHERE kind = 'chain_break'
            """)
        #expect(breaks == "5-6,11-12,20-21,30-31")
    }

    @Test("a record that fills a gap late is checked against the link its stored successor names")
    func lateLink() throws {
        let db = try IngestDatabase()
        var entries = feed.audit(4)
        try db.write([entries[0], entries[1], entries[3]])
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind = 'chain_break'") == 0)
        // Another entry 3: it links to 2 and hashes right, but is not the entry 4 names.
        let action = AuditAction(user: "operator", action: "alarm.acknowledge", target: "A-3", reason: "another")
        let ns = Int64(feed.start.timeIntervalSince1970 * 1e9) + 3
        let previous = try #require(try db.scalar("SELECT hash FROM audit_entries WHERE seq = 2"))
        let other = AuditEntry(seq: 3, time: feed.start.addingTimeInterval(3), timeNanoseconds: ns, action: action, previousHash: previous,
                               hash: AuditEntry.hash(seq: 3, timeNanoseconds: ns, action: action, previousHash: previous))
        entries[2].payload = String(decoding: Contract.audit(site: feed.site, entry: other), as: UTF8.self)
        try db.write([entries[2]])
        #expect(try db.scalar("SELECT string_agg(seq_from || '-' || seq_to, ',') FROM integrity_findings WHERE kind = 'chain_break'") == "3-4")
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind LIKE 'hash%'") == 0)
    }

    @Test("a new store epoch is recorded as a finding; its numbers start again without conflicts")
    func epochChange() throws {
        let db = try IngestDatabase()
        func withEpoch(_ m: SiteFeed.Message, _ epoch: String) -> SiteFeed.Message {
            (m.topic, m.payload.replacingOccurrences(of: "\"site\":", with: "\"epoch\":\"\(epoch)\",\"site\":"))
        }
        try db.write([withEpoch(feed.event("rocker-1", seq: 1, kind: "alarm_raised"), "e1")])
        try db.write([withEpoch(feed.event("rocker-1", seq: 1, kind: "batch_started"), "e2")])
        #expect(try db.count("SELECT count(*) FROM events") == 2)
        #expect(try db.scalar("SELECT detail FROM integrity_findings WHERE kind = 'epoch_change'")?.contains("from e1 to e2") == true)
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind = 'conflicting_duplicate'") == 0)
    }

    @Test("status keeps the site online or offline with its devices; batches are gathered from samples")
    func statusAndBatches() throws {
        let db = try IngestDatabase()
        try db.write([
            feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: "B1", phase: "expansion", spec: "sha256:aa")]),
            feed.telemetry("rocker-1", 1...50, batch: "B1", phase: "expansion", spec: "sha256:aa"),
        ])
        #expect(try db.scalar("SELECT state FROM sites") == "online")
        #expect(try db.scalar("SELECT profile FROM site_devices WHERE device = 'rocker-1'") == "rocking-bag-rb50")
        #expect(try db.scalar("SELECT samples FROM batch_runs WHERE batch = 'B1'") == "50")
        try db.write([feed.lastWill()])
        #expect(try db.scalar("SELECT state FROM sites") == "offline")
        #expect(try db.scalar("SELECT version FROM sites") != nil)
    }

    @Test("a malformed message is kept apart, counted each time it comes, and is no finding of the site its topic names")
    func malformed() throws {
        let db = try IngestDatabase()
        let failure = ContractMessage.Failure.malformed(site: "site-a", topic: "pocare/v1/site-a/x/telemetry", reason: "bad")
        _ = try db.writer.write([.rejected(failure, bytes: 9, excerpt: "{\"bad\":1}"), .rejected(failure)])
        #expect(try db.scalar("SELECT occurrences FROM refused_messages WHERE claimed_site = 'site-a'") == "2")
        #expect(try db.count("SELECT count(*) FROM integrity_findings") == 0)
        #expect(try db.count("SELECT count(*) FROM sites") == 0)
    }

    @Test("migrating again changes nothing; the schema version is recorded")
    func migrations() throws {
        let db = try IngestDatabase()
        #expect(try ControlSchema.migrate(db.connection, logger: Logger(label: "test")) == ControlSchema.latestVersion)
        #expect(try db.count("SELECT max(version) FROM schema_migrations") == ControlSchema.latestVersion)
    }
}
