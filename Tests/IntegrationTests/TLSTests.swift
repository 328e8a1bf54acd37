import Foundation
import Testing
import TestSupport

/// A CA, a broker certificate for 127.0.0.1, and client certificates, made with openssl.
final class TestPKI {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try makeCA("ca")
        try makeCA("rogue-ca")
        try makeCertificate("broker", signedBy: "ca", subjectAltName: "IP:127.0.0.1")
        try makeCertificate("site", signedBy: "ca")
        try makeCertificate("control-site", signedBy: "ca")
        try makeCertificate("intruder", signedBy: "rogue-ca")
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func openssl(_ arguments: [String]) throws {
        let status = runStatus("/usr/bin/openssl", arguments)
        guard status == 0 else { throw TestFailure("openssl \(arguments.joined(separator: " ")) failed (\(status))") }
    }

    private func makeCA(_ name: String) throws {
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(name)",
            "-keyout", path("\(name).key"), "-out", path("\(name).pem"),
        ])
    }

    private func makeCertificate(_ name: String, signedBy ca: String, subjectAltName: String? = nil) throws {
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        var arguments = [
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
            "-CAcreateserial", "-days", "2", "-out", path("\(name).pem"),
        ]
        if let subjectAltName {
            try "subjectAltName=\(subjectAltName)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            arguments += ["-extfile", path("\(name).ext")]
        }
        try openssl(arguments)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

@Suite("TLS and mutual TLS to the Control Site broker", .serialized)
struct TLSTests {
    @Test("with mutual TLS the site's records arrive; a client with an unknown certificate is refused and says why")
    func mutualTLS() async throws {
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
        let url = "mqtts://127.0.0.1:\(port)"
        let subscriber = try RunningProcess("pocarectl", [
            "subscribe", "--broker", url, "--client-id", "qa-tls", "--json", "--tls-ca", pki.path("ca.pem"),
            "--cert", pki.path("control-site.pem"), "--key", pki.path("control-site.key"),
        ])
        defer { subscriber.stop() }
        _ = await waitFor(upTo: .seconds(10)) { broker.log.contains("Sending SUBACK to qa-tls") }

        let fixture = try DaemonFixture(pollInterval: "200ms", controlSite: """
            control_site: { broker: "\(url)", client_id: site-tls, tls: { ca_file: "\(pki.path("ca.pem"))", cert_file: "\(pki.path("site.pem"))", key_file: "\(pki.path("site.key"))" } }
            """)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let arrived = await waitFor(upTo: .seconds(20)) {
            payloads(subscriber.output).contains { ($0["schema"] as? String) == "pocare/v1/telemetry" }
        }
        #expect(arrived, "telemetry arrives over mutual TLS: \(daemon.errors.suffix(3))")

        let intruder = try DaemonFixture(pollInterval: "200ms", controlSite: """
            control_site: { broker: "\(url)", client_id: site-intruder, tls: { ca_file: "\(pki.path("ca.pem"))", cert_file: "\(pki.path("intruder.pem"))", key_file: "\(pki.path("intruder.key"))" } }
            """)
        let refused = try intruder.startDaemon()
        defer { refused.stop() }
        let said = await waitFor(upTo: .seconds(20)) {
            refused.errors.contains { $0.contains("Control Site broker") && ($0.contains("TLS") || $0.contains("SSL") || $0.contains("certificate")) }
        }
        #expect(said, "the refused daemon logs why: \(refused.errors.filter { $0.contains("broker") }.prefix(3))")
        #expect(!broker.log.contains("as site-intruder"), "the broker never accepted the intruder's session")
        #expect(refused.isRunning, "a refused link does not stop the daemon")
    }

    @Test("plain TCP to a TLS-only broker port is refused, and the daemon keeps storing")
    func plainToTLS() async throws {
        let pki = try TestPKI()
        let port = freeLoopbackPort()
        let broker = try TestBroker(extraConfig: """
            listener \(port) 127.0.0.1
            allow_anonymous true
            cafile \(pki.path("ca.pem"))
            certfile \(pki.path("broker.pem"))
            keyfile \(pki.path("broker.key"))
            """, port: port)
        _ = broker
        let fixture = try DaemonFixture(pollInterval: "100ms", controlSite: "control_site: { broker: \"mqtt://127.0.0.1:\(port)\" }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let storing = await waitFor(upTo: .seconds(20)) { (try? committedNumbers(fixture.storePath))?["rocker-1/telemetry"]?.count ?? 0 > 5 }
        #expect(storing, "polling and storing go on")
        #expect(daemon.isRunning)
    }
}

@Suite("Broker credentials and MQTT 5", .serialized)
struct CredentialsTests {
    @Test("MQTT 5 with a username and password from a private file; a wrong password is refused and logged")
    func passwordAndMQTT5() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-cred-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let passwords = scratch.appendingPathComponent("passwords").path
        #expect(runStatus("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, "site-a", "good-secret"]) == 0)
        #expect(runStatus("/usr/bin/mosquitto_passwd", ["-b", passwords, "qa", "qa-secret"]) == 0)
        let port = freeLoopbackPort()
        let broker = try TestBroker(extraConfig: """
            listener \(port) 127.0.0.1
            allow_anonymous false
            password_file \(passwords)
            log_type all
            """, port: port)
        let good = scratch.appendingPathComponent("good.credentials").path
        let bad = scratch.appendingPathComponent("bad.credentials").path
        let qa = scratch.appendingPathComponent("qa.credentials").path
        try "site-a\ngood-secret\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "site-a\nwrong\n".write(toFile: bad, atomically: true, encoding: .utf8)
        try "qa:qa-secret\n".write(toFile: qa, atomically: true, encoding: .utf8)
        for file in [good, bad, qa] { chmod(file, 0o600) }

        let subscriber = try RunningProcess("pocarectl", [
            "subscribe", "--broker", broker.url, "--client-id", "qa-v5", "--json", "--mqtt5", "--credentials-file", qa,
        ])
        defer { subscriber.stop() }
        _ = await waitFor(upTo: .seconds(10)) { broker.log.contains("Sending SUBACK to qa-v5") }
        let fixture = try DaemonFixture(pollInterval: "200ms", controlSite: """
            control_site: { broker: "\(broker.url)", client_id: site-v5, mqtt_version: "5", credentials_file: \(good) }
            """)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let arrived = await waitFor(upTo: .seconds(20)) {
            payloads(subscriber.output).contains { ($0["schema"] as? String) == "pocare/v1/telemetry" }
        }
        #expect(arrived, "\(daemon.errors.suffix(3))")
        #expect(broker.log.contains("as site-v5 (p5"), "the site spoke MQTT 5")
        let status = payloads(subscriber.output).first { ($0["schema"] as? String) == "pocare/v1/status" }
        #expect(((status?["devices"] as? [[String: Any]])?.first?["id"] as? String) == "rocker-1")

        let wrong = try DaemonFixture(pollInterval: "200ms", controlSite: """
            control_site: { broker: "\(broker.url)", client_id: site-wrong, credentials_file: \(bad) }
            """)
        let refused = try wrong.startDaemon()
        defer { refused.stop() }
        let logged = await waitFor(upTo: .seconds(20)) { refused.errors.contains { $0.contains("refused the connection") } }
        #expect(logged, "\(refused.errors.filter { $0.contains("broker") }.prefix(3))")
    }
}
