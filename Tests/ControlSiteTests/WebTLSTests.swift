import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

extension WebSuites {
    @Suite("The web pages over native TLS", .serialized)
    struct WebTLSTests {
        @Test("with tls in the web section the pages answer HTTPS only, and the session cookie is Secure")
        func servesHTTPS() async throws {
            let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pocare-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let cert = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
            try TestPostgres.run("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
            let fixture = try await WebFixture {
                $0.tlsCertificateFile = cert
                $0.tlsKeyFile = key
            }
            let url = "https://127.0.0.1:\(fixture.port)"
            let page = try runCommand("/usr/bin/curl", ["-s", "-i", "--cacert", cert, url + "/login"])
            #expect(page.status == 0 && page.output.hasPrefix("HTTP/1.1 200"))
            let jar = directory.appendingPathComponent("cookies").path
            let form = try runCommand("/usr/bin/curl", ["-s", "--cacert", cert, "-c", jar, url + "/login"])
            let token = try #require(form.output.range(of: "name=\"csrf\" value=\"").map { String(form.output[$0.upperBound...].prefix(64)) })
            let signIn = try runCommand("/usr/bin/curl", ["-s", "-i", "--cacert", cert, "-b", jar, "--data-urlencode", "user=petra",
                                                          "--data-urlencode", "password=\(WebFixture.password)", "--data-urlencode", "csrf=\(token)",
                                                          url + "/login"])
            #expect(signIn.output.hasPrefix("HTTP/1.1 303"))
            let cookie = signIn.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
            #expect(cookie.contains("pocare_session=") && cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            // Plain HTTP to the TLS port gets no page.
            let plain = try runCommand("/usr/bin/curl", ["-s", "-i", "--max-time", "5", "http://127.0.0.1:\(fixture.port)/login"])
            #expect(!plain.output.contains("HTTP/1.1 200"))
        }

        @Test("a tls section naming a file that cannot be read is refused with the field named")
        func unreadableCertificate() {
            let text = "broker: mqtt://127.0.0.1:1883\ndatabase: x\nweb: { tls: { cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem } }\n"
            var message = ""
            do { _ = try ControlConfig.parse(text, file: "control.yaml") } catch { message = "\(error)" }
            #expect(message.hasPrefix("control.yaml:3:26: web.tls.cert_file: cannot read /nonexistent/cert.pem"), "\(message)")
        }
    }
}
