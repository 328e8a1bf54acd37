import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

private func jsonOutput(_ result: ProcessResult) -> Any? { try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) }

@Suite("A real site through a real broker into the Control Site's PostgreSQL", .serialized)
struct ControlSiteIngestTests {
    @Test("pocared + simulator -> mosquitto -> pocare-control run: every committed record stored once, batch and spec seen, conformance follows the register")
    func realSite() async throws {
        let database = try TestPostgres()
        let broker = try TestBroker(extraConfig: "log_type all")
        let configPath = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: configPath) }
        try """
            broker: \(broker.url)
            client_id: control-it
            database: "\(database.postgresConnectionInfo)"
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let control = try RunningProcess("pocare-control", ["run", "--config", configPath])
        defer { control.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { control.errors.contains { $0.contains("subscribed") } })

        let fixture = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-it }")
        let daemon = try fixture.startDaemon()
        _ = await daemon.waitForLine(upTo: .seconds(6)) { _ in false }
        // The batch ends: the site commits and publishes its batch record.
        let ended = try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "run complete", "--socket", fixture.socketPath])
        #expect(ended.status == 0, "\(ended.errors)")
        _ = await daemon.waitForLine(upTo: .seconds(2)) { _ in false }
        daemon.stop()
        let committed = try committedNumbers(fixture.storePath)
        #expect(committed.keys.contains("rocker-1/telemetry") && committed.keys.contains("audit"))

        // Every committed number of every stream arrives, contiguous, with no finding.
        var streams: [String: [String: Any]] = [:]
        let complete = await waitFor(upTo: .seconds(30)) {
            let integrity = (try? run("pocare-control", ["integrity", "--json", "--database", database.postgresConnectionInfo])).flatMap(jsonOutput)
            let list = ((integrity as? [String: Any])?["streams"] as? [[String: Any]]) ?? []
            streams = Dictionary(list.map { ($0["stream"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            return committed.allSatisfy { stream, numbers in (streams[stream]?["contiguous"] as? Int) == numbers.count }
        }
        #expect(complete, "stored: \(streams.mapValues { $0["contiguous"] ?? "?" }), committed: \(committed.mapValues(\.count))")
        for (stream, numbers) in committed {
            #expect(streams[stream]?["highest"] as? Int == numbers.count && streams[stream]?["missing"] as? Int == 0, "\(stream)")
        }
        let integrity = try run("pocare-control", ["integrity", "--database", database.postgresConnectionInfo])
        #expect(integrity.status == 0, "\(integrity.output)")

        // The site said goodbye; its version and devices are known.
        let sites = try #require(jsonOutput(try run("pocare-control", ["sites", "--json", "--database", database.postgresConnectionInfo])) as? [[String: Any]])
        #expect(sites.first?["site"] as? String == "durability" && sites.first?["state"] as? String == "offline")
        let devices = (sites.first?["devices"] as? [[String: Any]]) ?? []
        #expect(devices.count == 2)
        #expect(devices.allSatisfy { ($0["metadata"] as? String)?.hasPrefix("sha256:") == true && $0["metadata_verified"] as? Bool == true },
                "each device's published metadata is held and hashes to its fingerprint: \(devices)")

        // The site's batch record arrived and agrees with the samples and events held here.
        let batch = try run("pocare-control", ["batch", "durability", "DUR-1", "--json", "--database", database.postgresConnectionInfo])
        let detail = try #require(jsonOutput(batch) as? [String: Any])
        let siteRecords = try #require(detail["site_records"] as? [[String: Any]])
        #expect(siteRecords.count == 1 && (siteRecords.first?["record"] as? [String: Any])?["batch"] as? String == "DUR-1")
        #expect(siteRecords.first?["differences"] as? [String] == [], "\(siteRecords.first?["differences"] ?? "-")")

        // The batch ran the example spec, which QA has not released yet: a nonconformance.
        let batches = try #require(jsonOutput(try run("pocare-control", ["batches", "--json", "--database", database.postgresConnectionInfo])) as? [[String: Any]])
        #expect(batches.first?["batch"] as? String == "DUR-1")
        #expect(try run("pocare-control", ["conformance", "--database", database.postgresConnectionInfo]).status == 1)
        let release = try releaseThroughChangeControl("docs/examples/specs/cart-expansion-example.yaml", database: database.postgresConnectionInfo)
        #expect(release.request.status == 0 && release.approval.status == 0, "\(release.request.errors) \(release.approval.errors)")
        #expect((batches.first?["specs"] as? [String])?.first.map { release.request.output.contains($0) } == true)
        // Released now, but the site started the batch before: its own record of the start says
        // the spec was not released (the site ran with specs.require_release: false), and that stays.
        let after = try run("pocare-control", ["conformance", "--json", "--database", database.postgresConnectionInfo])
        #expect(after.status == 1)
        let findings = try #require(jsonOutput(after) as? [[String: Any]])
        #expect(findings.count == 1 && findings.first?["batch"] as? String == "DUR-1", "\(findings)")
        #expect((findings.first?["reason"] as? String)?.contains("not released") == true, "\(findings)")
    }

    @Test("over mutual TLS a site's records reach pocare-control; an instance with an unknown certificate is refused and says why")
    func mutualTLS() async throws {
        let database = try TestPostgres()
        let pki = try TestPKI()
        let port = freeLoopbackPort()
        let broker = try TestBroker(extraConfig: """
            listener \(port) 127.0.0.1
            allow_anonymous true
            cafile \(pki.path("ca.pem"))
            certfile \(pki.path("broker.pem"))
            keyfile \(pki.path("broker.key"))
            require_certificate true
            log_type all
            """, port: port)
        func config(_ name: String, certificate: String) throws -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
            try """
                broker: mqtts://127.0.0.1:\(port)
                client_id: \(name)
                tls: { ca_file: "\(pki.path("ca.pem"))", cert_file: "\(pki.path("\(certificate).pem"))", key_file: "\(pki.path("\(certificate).key"))" }
                database: "\(database.postgresConnectionInfo)"
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let control = try RunningProcess("pocare-control", ["run", "--config", try config("control-tls", certificate: "control-site")])
        defer { control.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { control.errors.contains { $0.contains("subscribed") } }, "\(control.errors)")
        let intruder = try RunningProcess("pocare-control", ["run", "--config", try config("intruder", certificate: "intruder")])
        defer { intruder.stop() }

        let fixture = try DaemonFixture(pollInterval: "200ms", controlSite: """
            control_site: { broker: "mqtts://127.0.0.1:\(port)", client_id: site-tls, tls: { ca_file: "\(pki.path("ca.pem"))", cert_file: "\(pki.path("site.pem"))", key_file: "\(pki.path("site.key"))" } }
            """)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let stored = await waitFor(upTo: .seconds(30)) {
            let integrity = (try? run("pocare-control", ["integrity", "--json", "--database", database.postgresConnectionInfo])).flatMap(jsonOutput)
            let streams = ((integrity as? [String: Any])?["streams"] as? [[String: Any]]) ?? []
            return streams.contains { $0["stream"] as? String == "rocker-1/telemetry" && ($0["records"] as? Int ?? 0) > 0 }
        }
        #expect(stored, "telemetry stored over mutual TLS: \(control.errors.suffix(3))")
        // Its refusal is logged on its own schedule of retries, which a loaded machine stretches.
        #expect(await waitFor(upTo: .seconds(90)) { intruder.errors.contains { $0.contains("cannot reach the broker") } }, "\(intruder.errors.suffix(3))")
        #expect(!intruder.errors.contains { $0.contains("subscribed") })
    }
}
