import ControlSiteLink
import ControlSiteRecords
import Hashing
import Foundation
import POCareContract
import POCareCore
import SiteStore
import Testing
import TestSupport

/// A running Control Site fed by a real site through a real broker, for the tests of what the
/// Control Site can prove about the records it holds.
struct ProvableRecordsSetup {
    let database: TestPostgres
    let broker: TestBroker
    let configPath: String
    let control: RunningProcess

    init(siteKeys: String = "", brokerConfig: String = "") async throws {
        database = try TestPostgres()
        broker = try TestBroker(extraConfig: brokerConfig)
        configPath = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
        try """
            broker: \(broker.url)
            client_id: control-it
            database: "\(database.postgresConnectionInfo)"
            \(siteKeys)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        control = try RunningProcess("pocare-control", ["run", "--config", configPath])
        #expect(await waitFor(upTo: .seconds(20)) { control.errors.contains { $0.contains("subscribed") } })
    }

    func stop() {
        control.stop()
        try? FileManager.default.removeItem(atPath: configPath)
    }

    func query(_ sql: String) throws -> [[String?]] {
        let connection = try PostgresConnection(database.postgresConnectionInfo)
        let result = try connection.execute(sql)
        return (0..<result.rowCount).map { row in (0..<result.columnCount).map { result.string(row, $0) } }
    }

    /// Publishes one message as an outsider would (QoS 1).
    func publish(topic: String, payload: [UInt8], extra: [String] = []) throws -> ProcessResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("payload-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(payload).write(to: URL(fileURLWithPath: file))
        return try run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", topic, "-f", file] + extra)
    }

    /// Runs the site until its batch ends and every committed record has arrived.
    func runSite(_ fixture: DaemonFixture) async throws -> [String: [Int64]] {
        let daemon = try fixture.startDaemon()
        _ = await daemon.waitForLine(upTo: .seconds(5)) { _ in false }
        let ended = try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "run complete", "--socket", fixture.socketPath])
        #expect(ended.status == 0, "\(ended.errors)")
        _ = await daemon.waitForLine(upTo: .seconds(2)) { _ in false }
        daemon.stop()
        let committed = try committedNumbers(fixture.storePath)
        let complete = await waitFor(upTo: .seconds(30)) {
            let rows = (try? query("SELECT stream, contiguous FROM streams")) ?? []
            let stored = Dictionary(rows.map { ($0[0] ?? "", Int($0[1] ?? "") ?? 0) }, uniquingKeysWith: max)
            return committed.allSatisfy { stored[$0.key] == $0.value.count }
        }
        #expect(complete, "every committed record arrived")
        return committed
    }
}

@Suite("Records the Control Site can prove", .serialized)
struct ProvableRecordsTests {
    @Test("every hash recomputed on arrival: an unaltered run gives no finding; a sample, an event and an audit entry changed on the broker are each found as hash_mismatch and set aside")
    func recomputedOnArrival() async throws {
        let setup = try await ProvableRecordsSetup()
        defer { setup.stop() }
        let fixture = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"\(setup.broker.url)\", client_id: site-it }")
        _ = try await setup.runSite(fixture)

        #expect(try setup.query("SELECT kind, stream, detail FROM integrity_findings WHERE kind LIKE 'hash%'").isEmpty)
        #expect(try setup.query("SELECT count(*) FROM records_set_aside").first?.first == "0")
        #expect(try setup.query("SELECT count(*) FROM samples WHERE time_ns IS NULL").first?.first == "0",
                "every sample arrived with what its hash needs")
        #expect(try setup.query("SELECT count(*) FROM events WHERE body IS NULL").first?.first == "0")
        #expect(try setup.query("SELECT count(*) FROM events").first?.first != "0")

        // Copies altered by someone who can publish on the broker, each keeping the hash it had.
        let reader = try StoreReader(path: fixture.storePath)
        let epoch = try reader.epoch()
        let topics = Topics(site: "durability")
        var sample = try #require(try reader.samples(stream: .telemetry(device: "rocker-1"), after: 4, limit: 1).first)
        let index = try #require(sample.readings.firstIndex { if case .number = $0.value { true } else { false } })
        if case .number(let v)? = sample.readings[index].value { sample.readings[index].value = .number(v + 0.5) }
        #expect(try setup.publish(topic: topics.telemetry("rocker-1"),
                                  payload: Contract.telemetry(site: "durability", device: "rocker-1", samples: [sample][...], sent: Date(), epoch: epoch)).status == 0)
        var event = try #require(try reader.events(stream: .events(device: "rocker-1"), after: 0, limit: 1).first)
        event.batchId = "DUR-FORGED"
        #expect(try setup.publish(topic: topics.events("rocker-1"), payload: Contract.event(site: "durability", event: event, epoch: epoch)).status == 0)
        var entry = try #require(try reader.auditEntries().first)
        entry.action.reason = "nothing to see"
        #expect(try setup.publish(topic: topics.audit, payload: Contract.audit(site: "durability", entry: entry, epoch: epoch)).status == 0)

        var findings: [[String?]] = []
        #expect(await waitFor(upTo: .seconds(20)) {
            findings = (try? setup.query("SELECT site, stream, seq_from FROM integrity_findings WHERE kind = 'hash_mismatch' ORDER BY stream")) ?? []
            return findings.count == 3
        })
        #expect(findings == [
            ["durability", "audit", String(entry.seq)], ["durability", "rocker-1/events", String(event.seq)],
            ["durability", "rocker-1/telemetry", String(sample.seq)],
        ])
        let setAside = try setup.query("SELECT reason, stream, seq, record FROM records_set_aside ORDER BY stream")
        #expect(setAside.map { [$0[0], $0[1], $0[2]] } == [
            ["hash_mismatch", "audit", String(entry.seq)], ["hash_mismatch", "rocker-1/events", String(event.seq)],
            ["hash_mismatch", "rocker-1/telemetry", String(sample.seq)],
        ])
        #expect(setAside.first?[3]?.contains("nothing to see") == true, "kept as it arrived")
        // QA sees them, as they arrived.
        let listed = try run("pocare-control", ["set-aside", "--site", "durability", "--reason", "hash_mismatch", "--json",
                                                "--database", setup.database.postgresConnectionInfo])
        let rows = (try? JSONSerialization.jsonObject(with: Data(listed.output.utf8))) as? [[String: Any]] ?? []
        #expect(listed.status == 0 && rows.count == 3, "\(listed.output)")
        #expect(rows.contains { $0["stream"] as? String == "audit" && ($0["record"] as? String ?? "").contains("nothing to see") })
        // The stored records are still the site's.
        #expect(try setup.query("SELECT count(*) FROM events WHERE batch = 'DUR-FORGED'").first?.first == "0")
        #expect(try setup.query("SELECT count(*) FROM audit_entries WHERE record->>'reason' = 'nothing to see'").first?.first == "0")
    }
}

@Suite("Each site a known identity at the Control Site", .serialized)
struct SiteIdentityTests {
    @Test("a site with a registered key: every chain segment of its batch is covered by a verified checkpoint; an unregistered site and a forged status are set aside and change nothing")
    func signedAndRegistered() async throws {
        let keyFolder = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: keyFolder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: keyFolder) }
        let keyPath = keyFolder.appendingPathComponent("identity.pem").path
        let made = try run("pocarectl", ["identity", "init", "--key", keyPath])
        #expect(made.status == 0, "\(made.errors)")
        let publicKey = try #require(made.output.split(separator: "\n").first { $0.hasPrefix("public key: ") }?.dropFirst(12))
        #expect(try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int == 0o600)
        #expect(try run("pocarectl", ["identity", "init", "--key", keyPath]).status != 0, "a key is never overwritten")

        let setup = try await ProvableRecordsSetup(siteKeys: """
            sites:
              durability:
                keys:
                  - { key: "\(publicKey)", valid_from: "2020-01-01T00:00:00Z" }
            """)
        defer { setup.stop() }
        let fixture = try DaemonFixture(pollInterval: "100ms", controlSite: """
            control_site: { broker: "\(setup.broker.url)", client_id: site-it, identity_key: "\(keyPath)", checkpoint_interval: 1s }
            """)
        _ = try await setup.runSite(fixture)

        let connection = try PostgresConnection(setup.database.postgresConnectionInfo)
        var segments: [ChainSegment] = []
        #expect(await waitFor(upTo: .seconds(10)) {
            segments = (try? ChainCoverage.segments(site: "durability", batch: "DUR-1", on: connection)) ?? []
            return !segments.isEmpty && segments.allSatisfy(\.isCovered)
        }, "\(segments)")
        #expect(try ChainCoverage.allSegmentsCovered(site: "durability", batch: "DUR-1", on: connection))
        #expect(try setup.query("SELECT count(*) FROM site_checkpoints WHERE NOT verified").first?.first == "0")
        #expect(try setup.query("SELECT state FROM sites WHERE site = 'durability'").first?.first == "offline")

        // The verifier anyone can run, from the database, and offline from an exported batch.
        let verified = try run("pocare-control", ["verify", "--site", "durability", "--config", setup.configPath])
        #expect(verified.status == 0 && !verified.output.contains("BROKEN"), "\(verified.output)\(verified.errors)")
        let exportPath = keyFolder.appendingPathComponent("DUR-1.json").path
        let exported = try run("pocare-control", ["batch", "export", "durability", "DUR-1", "--output", exportPath, "--config", setup.configPath])
        #expect(exported.status == 0, "\(exported.errors)")
        let offline = try run("pocarectl", ["verify", "--export", exportPath])
        #expect(offline.status == 0 && offline.output.contains("every record recomputed, linked and signed"), "\(offline.output)\(offline.errors)")
        // A value changed in the file, and one changed in the database, are each named.
        var document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exportPath))) as? [String: Any])
        var exportedSegments = try #require(document["segments"] as? [[String: Any]])
        let telemetry = try #require(exportedSegments.firstIndex { ($0["stream"] as? String) == "rocker-1/telemetry" })
        var records = try #require(exportedSegments[telemetry]["records"] as? [String])
        records[2] = records[2].replacingOccurrences(of: "\"cycle\":", with: "\"cycle\":1")
        exportedSegments[telemetry]["records"] = records
        document["segments"] = exportedSegments
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: exportPath))
        let tampered = try run("pocarectl", ["verify", "--export", exportPath])
        #expect(tampered.status == 1 && tampered.output.contains("was changed"), "\(tampered.output)")
        let seq = try #require(try setup.query("SELECT min(seq) + 3 FROM samples WHERE stream = 'rocker-1/telemetry'").first?.first ?? nil)
        _ = try setup.query("UPDATE samples SET cycle = cycle + 1 WHERE stream = 'rocker-1/telemetry' AND seq = \(seq)")
        let broken = try run("pocare-control", ["verify", "--site", "durability", "--batch", "DUR-1", "--config", setup.configPath])
        #expect(broken.status == 1 && broken.output.contains("record \(seq) was changed"), "\(broken.output)")

        // An anonymous client's retained status for a site nobody registered, and an unsigned
        // status for the registered one.
        let rogue = #"{"schema":"pocare/v1/status","site":"rogue-site","state":"online","devices":[]}"#
        #expect(try setup.publish(topic: "pocare/v1/rogue-site/status", payload: Array(rogue.utf8), extra: ["-r"]).status == 0)
        let forged = #"{"schema":"pocare/v1/status","site":"durability","epoch":"ffffffffffffffffffffffffffffffff","state":"online","devices":[]}"#
        #expect(try setup.publish(topic: "pocare/v1/durability/status", payload: Array(forged.utf8)).status == 0)
        var setAside: [[String?]] = []
        #expect(await waitFor(upTo: .seconds(10)) {
            setAside = (try? setup.query("SELECT reason, site FROM records_set_aside ORDER BY reason")) ?? []
            let refused = (try? setup.query("SELECT claimed_site FROM refused_messages")) ?? []
            return setAside.count == 1 && refused == [["rogue-site"]]
        })
        #expect(setAside == [["unsigned_status", "durability"]], "the unregistered site is refused and kept apart, the forged status set aside")
        #expect(try setup.query("SELECT site, state FROM sites ORDER BY site") == [["durability", "offline"]],
                "the rogue site is not listed, and the registered site stays offline")
        let sites = try run("pocare-control", ["sites", "--database", setup.database.postgresConnectionInfo])
        #expect(!sites.output.contains("rogue-site"))
    }

    @Test("a rotated key: checkpoints signed before the old key's retirement stay verifiable, none after it; the new key from its valid-from time")
    func rotation() throws {
        let old = try Ed25519.PrivateKey.generate(), new = try Ed25519.PrivateKey.generate()
        let rotation: Int64 = 1_800_000_000 * 1_000_000_000
        let register = SiteKeyRegister(sites: ["site-a": [
            .init(key: try old.publicKey(), validFrom: nil, retiredFrom: rotation),
            .init(key: try new.publicKey(), validFrom: rotation),
        ]])
        func verdict(_ key: Ed25519.PrivateKey, at ns: Int64) throws -> Bool {
            let checkpoint = Checkpoint(site: "site-a", epoch: "e", reason: "interval", signedNanoseconds: ns,
                                        key: try key.publicKey().description, chains: [.init(stream: "audit", seq: 1, hash: "ab")])
            let received = try Checkpoint.read(Array(try checkpoint.signed(with: key).utf8)[...])
            guard case .registered(let registered) = register.key(of: "site-a", named: checkpoint.key, at: ns) else { return false }
            return received.isSigned(by: registered)
        }
        #expect(try verdict(old, at: rotation - 1))
        #expect(try !verdict(old, at: rotation))
        #expect(try verdict(new, at: rotation))
        #expect(try !verdict(new, at: rotation - 1))
        #expect(!register.isRegistered("site-b"))
    }
}
