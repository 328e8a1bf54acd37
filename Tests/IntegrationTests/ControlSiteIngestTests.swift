import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster for the Control Site: initdb into a temporary folder (as the
/// `postgres` user when run as root), started on a free loopback port, removed afterwards.
/// Tools are run with posix_spawn and waitpid, their output in a file: the server pg_ctl starts
/// would otherwise hold a pipe open.
final class ControlSiteDatabase {
    let directory = "/tmp/pocare-it-pg-\(UUID().uuidString.prefix(8))"
    let port = freeLoopbackPort()
    var connectionInfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }
    private let bin: String = {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return "/usr/lib/postgresql/\(versions.compactMap(Int.init).max() ?? 15)/bin"
    }()

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if geteuid() == 0 { try spawn("/bin/chown", ["postgres", directory]) }
        try asServerUser("\(bin)/initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "postgres", "--no-sync", "--locale=C", "-E", "UTF8"])
        try asServerUser("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "start",
                                           "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off"])
    }

    deinit {
        try? asServerUser("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func asServerUser(_ tool: String, _ arguments: [String]) throws {
        if geteuid() == 0 { try spawn("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments) } else { try spawn(tool, arguments) }
    }

    private func spawn(_ tool: String, _ arguments: [String]) throws {
        let log = "\(NSTemporaryDirectory())pocare-it-pg-tool-\(UUID().uuidString)"
        defer { unlink(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, tool, &actions, nil, argv, environ) == 0 else { throw BrokerError(message: "cannot start \(tool)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            throw BrokerError(message: "\(tool) failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
    }
}

private func jsonOutput(_ result: ProcessResult) -> Any? { try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) }

@Suite("A real site through a real broker into the Control Site's PostgreSQL", .serialized)
struct ControlSiteIngestTests {
    @Test("pocared + simulator -> mosquitto -> pocare-control run: every committed record stored once, batch and spec seen, conformance follows the register")
    func realSite() async throws {
        let database = try ControlSiteDatabase()
        let broker = try Broker(extraConfig: "log_type all")
        let configPath = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: configPath) }
        try """
            broker: \(broker.url)
            client_id: control-it
            database: "\(database.connectionInfo)"
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
            let integrity = (try? run("pocare-control", ["integrity", "--json", "--database", database.connectionInfo])).flatMap(jsonOutput)
            let list = ((integrity as? [String: Any])?["streams"] as? [[String: Any]]) ?? []
            streams = Dictionary(list.map { ($0["stream"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            return committed.allSatisfy { stream, numbers in (streams[stream]?["contiguous"] as? Int) == numbers.count }
        }
        #expect(complete, "stored: \(streams.mapValues { $0["contiguous"] ?? "?" }), committed: \(committed.mapValues(\.count))")
        for (stream, numbers) in committed {
            #expect(streams[stream]?["highest"] as? Int == numbers.count && streams[stream]?["missing"] as? Int == 0, "\(stream)")
        }
        let integrity = try run("pocare-control", ["integrity", "--database", database.connectionInfo])
        #expect(integrity.status == 0, "\(integrity.output)")

        // The site said goodbye; its version and devices are known.
        let sites = try #require(jsonOutput(try run("pocare-control", ["sites", "--json", "--database", database.connectionInfo])) as? [[String: Any]])
        #expect(sites.first?["site"] as? String == "durability" && sites.first?["state"] as? String == "offline")
        let devices = (sites.first?["devices"] as? [[String: Any]]) ?? []
        #expect(devices.count == 2)
        #expect(devices.allSatisfy { ($0["metadata"] as? String)?.hasPrefix("sha256:") == true && $0["metadata_verified"] as? Bool == true },
                "each device's published metadata is held and hashes to its fingerprint: \(devices)")

        // The site's batch record arrived and agrees with the samples and events held here.
        let batch = try run("pocare-control", ["batch", "durability", "DUR-1", "--json", "--database", database.connectionInfo])
        let detail = try #require(jsonOutput(batch) as? [String: Any])
        let siteRecords = try #require(detail["site_records"] as? [[String: Any]])
        #expect(siteRecords.count == 1 && (siteRecords.first?["record"] as? [String: Any])?["batch"] as? String == "DUR-1")
        #expect(siteRecords.first?["differences"] as? [String] == [], "\(siteRecords.first?["differences"] ?? "-")")

        // The batch ran the example spec, which QA has not released yet: a nonconformance until it is.
        let batches = try #require(jsonOutput(try run("pocare-control", ["batches", "--json", "--database", database.connectionInfo])) as? [[String: Any]])
        #expect(batches.first?["batch"] as? String == "DUR-1")
        #expect(try run("pocare-control", ["conformance", "--database", database.connectionInfo]).status == 1)
        let release = try releaseThroughChangeControl("docs/examples/specs/cart-expansion-example.yaml", database: database.connectionInfo)
        #expect(release.request.status == 0 && release.approval.status == 0, "\(release.request.errors) \(release.approval.errors)")
        #expect((batches.first?["specs"] as? [String])?.first.map { release.request.output.contains($0) } == true)
        #expect(try run("pocare-control", ["conformance", "--database", database.connectionInfo]).status == 0)
    }

    @Test("over mutual TLS a site's records reach pocare-control; an instance with an unknown certificate is refused and says why")
    func mutualTLS() async throws {
        let database = try ControlSiteDatabase()
        let pki = try TestPKI()
        let port = freeLoopbackPort()
        let broker = try Broker(extraConfig: """
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
                database: "\(database.connectionInfo)"
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
            let integrity = (try? run("pocare-control", ["integrity", "--json", "--database", database.connectionInfo])).flatMap(jsonOutput)
            let streams = ((integrity as? [String: Any])?["streams"] as? [[String: Any]]) ?? []
            return streams.contains { $0["stream"] as? String == "rocker-1/telemetry" && ($0["records"] as? Int ?? 0) > 0 }
        }
        #expect(stored, "telemetry stored over mutual TLS: \(control.errors.suffix(3))")
        #expect(await waitFor(upTo: .seconds(20)) { intruder.errors.contains { $0.contains("cannot reach the broker") } })
        #expect(!intruder.errors.contains { $0.contains("subscribed") })
    }
}
