import ControlSiteRecords
import Foundation
import Testing
import TestSupport

/// Ingest split by site across instances of `pocare-control run` (control.yaml `ingest:`), with
/// the real parts: two pocared sites with their simulators, mosquitto, one PostgreSQL, and two
/// pocare-control processes, one shard each.
@Suite("Ingest sharded by site across two pocare-control instances", .serialized)
struct ShardedIngestTests {
    /// Per stream of a site's current store epoch at the Control Site: contiguous and highest.
    private func progress(_ db: PostgresConnection, site: String) throws -> [String: (contiguous: Int64, highest: Int64)] {
        let rows = try db.execute("""
            SELECT stream, contiguous, highest FROM streams WHERE site = $1 AND epoch = (SELECT epoch FROM sites WHERE site = $1)
            """, [site])
        var result: [String: (Int64, Int64)] = [:]
        for r in 0..<rows.rowCount { result[rows.string(r, 0) ?? ""] = (rows.int(r, 1) ?? 0, rows.int(r, 2) ?? 0) }
        return result
    }

    private func samples(_ db: PostgresConnection, site: String) -> Int64 {
        ((try? db.execute("SELECT count(*) FROM samples WHERE site = $1", [site]))?.int(0, 0)) ?? 0
    }

    private func metric(_ port: Int, _ name: String) -> Double? { (try? scrape(port: port))?.metrics[name] }

    /// The Control Site's key, shared by its instances; the sites hold its public key.
    private let controlSite: ControlSiteTestKey
    private let keyFile: String

    init() throws {
        controlSite = try ControlSiteTestKey()
        keyFile = try controlSite.keyFile()
    }

    private func config(_ name: String, ingest: String, broker: TestBroker, database: TestPostgres, metrics: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).yaml").path
        try """
            broker: \(broker.url)
            client_id: \(name)
            database: "\(database.postgresConnectionInfo)"
            replay_after: 5s
            ingest: { \(ingest) }
            metrics: { address: "127.0.0.1:\(metrics)" }
            identity_key: \(keyFile)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func start(_ config: String) async throws -> RunningProcess {
        let instance = try RunningProcess("pocare-control", ["run", "--config", config])
        guard await waitFor(upTo: .seconds(20), { instance.errors.contains { $0.contains("subscribed") } }) else {
            throw TestFailure("pocare-control did not subscribe: \(instance.errors.suffix(5))")
        }
        return instance
    }

    @Test("two instances, a shard each, two real sites: every record stored once, chains verified; a site's records wait at the broker for the instance that takes them")
    func twoShardsTwoSites() async throws {
        // site-a falls in shard 1 of 2, site-b in shard 2 (SHA-256 of the id, IngestShareTests).
        #expect(IngestShare.shard(of: "site-a", count: 2) == 1 && IngestShare.shard(of: "site-b", count: 2) == 2)
        let database = try TestPostgres()
        let broker = try TestBroker()
        let db = try PostgresConnection(database.postgresConnectionInfo)
        let portA = freeLoopbackPort(), portB = freeLoopbackPort()
        // A knows only its shard, so it subscribes to every site and drops the others' messages;
        // B also lists its site, so the broker sends it that site's messages alone.
        let configA = try config("control-a", ingest: "shard: 1/2", broker: broker, database: database, metrics: portA)
        let configB = try config("control-b", ingest: "shard: 2/2, sites: [site-b]", broker: broker, database: database, metrics: portB)
        defer { for path in [configA, configB] { try? FileManager.default.removeItem(atPath: path) } }
        let a = try await start(configA)
        defer { a.stop() }
        var b = try await start(configB)
        defer { b.stop() }
        #expect(a.errors.contains { $0.contains("ingest share") && $0.contains("shard 1/2") }, "the shard is in the log at start")
        let subscribedA = a.errors.filter { $0.contains("subscribed") }, subscribedB = b.errors.filter { $0.contains("subscribed") }
        #expect(subscribedA.contains { $0.contains("pocare/v1/+/#") }, "\(subscribedA)")
        #expect(subscribedB.contains { $0.contains("pocare/v1/site-b/#") } && !subscribedB.contains { $0.contains("+/#") }, "\(subscribedB)")
        #expect(metric(portA, "pocare_control_ingest_shard{shard=\"1\",shards=\"2\"}") == 1)
        #expect(metric(portB, "pocare_control_ingest_shard{shard=\"2\",shards=\"2\"}") == 1)
        // The same shard again is refused while its instance runs.
        let twin = try run("pocare-control", ["run", "--config", try config("control-c", ingest: "shard: 1/2", broker: broker, database: database, metrics: freeLoopbackPort())])
        #expect(twin.status == 2 && twin.errors.contains("already holds shard 1/2"), "\(twin.errors)")

        let siteA = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-a, \(controlSite.siteConfig) }", site: "site-a")
        let siteB = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-b, \(controlSite.siteConfig) }", site: "site-b")
        let daemonA = try siteA.startDaemon()
        defer { daemonA.stop() }
        let daemonB = try siteB.startDaemon()
        defer { daemonB.stop() }
        #expect(await waitFor(upTo: .seconds(30)) { samples(db, site: "site-a") > 0 && samples(db, site: "site-b") > 0 })

        // Instance B stops. Its site's messages still reach instance A, which drops them before
        // writing anything, and wait at the broker for B's persistent session.
        b.stop()
        let heldB = samples(db, site: "site-b"), heldA = samples(db, site: "site-a")
        let droppedBefore = metric(portA, "pocare_control_messages_not_taken_total") ?? 0
        #expect(await waitFor(upTo: .seconds(30)) {
            (metric(portA, "pocare_control_messages_not_taken_total") ?? 0) >= droppedBefore + 10 && samples(db, site: "site-a") > heldA + 20
        }, "A receives and drops site-b's messages while it stores site-a's")
        #expect(samples(db, site: "site-b") == heldB, "no record of site-b is written while the instance that takes it is away")

        // B returns and takes what the broker held for it.
        b = try await start(configB)
        #expect(await waitFor(upTo: .seconds(30)) { samples(db, site: "site-b") > heldB + 20 })

        // The sites stop; every number each committed is stored, exactly once, chains unbroken.
        daemonA.stop()
        daemonB.stop()
        let committed = ["site-a": try committedNumbers(siteA.storePath), "site-b": try committedNumbers(siteB.storePath)]
        let complete = await waitFor(upTo: .seconds(40)) {
            committed.allSatisfy { site, streams in
                let stored = (try? progress(db, site: site)) ?? [:]
                return streams.allSatisfy { stream, numbers in
                    stored[stream].map { $0.contiguous == Int64(numbers.count) && $0.highest == Int64(numbers.count) } ?? false
                }
            }
        }
        #expect(complete, "stored: \(((try? progress(db, site: "site-b")) ?? [:]).mapValues(\.contiguous)), committed: \(committed.mapValues { $0.mapValues(\.count) })")
        for (site, streams) in committed {
            #expect(streams.keys.contains("rocker-1/telemetry") && streams.keys.contains("audit"), "\(site)")
        }
        let copies = try db.execute("""
            SELECT count(*) AS records, count(DISTINCT (site, epoch, stream, seq)) AS distinct_records FROM (
                SELECT site, epoch, stream, seq FROM samples UNION ALL SELECT site, epoch, stream, seq FROM events
                UNION ALL SELECT site, epoch, stream, seq FROM audit_entries) r
            """)
        let expected = committed.values.flatMap(\.values).reduce(0) { $0 + Int64($1.count) }
        #expect(copies.int(0, "records") == expected && copies.int(0, "distinct_records") == expected, "0 lost, 0 duplicated")
        let integrity = try run("pocare-control", ["integrity", "--database", database.postgresConnectionInfo])
        #expect(integrity.status == 0, "no gap, chain break or differing copy: \(integrity.output)")
        // Every chain recomputed from what is stored, whichever instance wrote it.
        for site in ["site-a", "site-b"] {
            let verified = try run("pocare-control", ["verify", "--site", site, "--database", database.postgresConnectionInfo])
            #expect(verified.status == 0 && verified.output.contains("rocker-1/telemetry") && verified.output.contains("intact"),
                    "\(site): \(verified.output) \(verified.errors)")
        }

        // Each instance took only its own site: received, asked for replays, reported.
        let (_, metricsA) = try scrape(port: portA)
        #expect((metricsA["pocare_control_records_received_total{site=\"site-a\"}"] ?? 0) > 0)
        #expect(metricsA["pocare_control_records_received_total{site=\"site-b\"}"] == nil)
        #expect(metricsA["pocare_control_site_online{site=\"site-b\"}"] == nil && metricsA["pocare_control_site_online{site=\"site-a\"}"] != nil)
        let (_, metricsB) = try scrape(port: portB)
        #expect((metricsB["pocare_control_records_received_total{site=\"site-b\"}"] ?? 0) > 0)
        #expect(metricsB["pocare_control_records_received_total{site=\"site-a\"}"] == nil)
        #expect(metricsB["pocare_control_messages_not_taken_total"] == 0, "the broker sent B no message of site-a")
        let asked = try db.execute("SELECT DISTINCT site, requested_by FROM replay_requests ORDER BY site").map {
            "\($0.string("site") ?? "") by \($0.string("requested_by") ?? "")"
        }
        #expect(asked.allSatisfy { $0 == "site-a by control-a" || $0 == "site-b by control-b" }, "\(asked)")
    }
}
