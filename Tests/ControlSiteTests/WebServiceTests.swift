import ControlSiteRecords
import POCareContract
import ControlSiteWeb
import Foundation
import Testing
import TestSupport

extension WebSuites {
    @Suite("pocare-control run serves the pages; pocare-control users manages who signs in", .serialized)
    struct WebServiceTests {
        @Test("with a web section, run serves the pages beside ingest; users add, passwd and disable decide who signs in, each audited")
        func runServesPages() async throws {
            let db = try IngestDatabase()
            let broker = try TestBroker()
            let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pocare-web-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let port = freeLoopbackPort()
            let config = directory.appendingPathComponent("control.yaml").path
            try """
                broker: \(broker.url)
                client_id: web-test
                database: "\(db.connectionInfo)"
                web:
                  address: 127.0.0.1
                  port: \(port)
                  profiles: \(shippedProfiles)
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let service = try SpawnedProcess("pocare-control", ["run", "--config", config])
            defer { service.stop() }
            guard await waitFor(upTo: .seconds(30), { service.output.contains("web pages listening") && service.output.contains("subscribed") }) else {
                throw TestFailure("pocare-control run did not serve the pages: \(service.output)")
            }

            let password = "a long enough password"
            let add = try runCommand("pocare-control", ["users", "add", "jdoe", "--full-name", "Jane Doe", "--role", "qp", "--iterations", "200000",
                                                        "--database", db.connectionInfo], input: password + "\n")
            #expect(add.status == 0)
            #expect(try db.scalar("SELECT password_hash FROM web_users WHERE user_name = 'jdoe'")?.hasPrefix("pbkdf2-sha256$200000$") == true)
            #expect(try runCommand("pocare-control", ["users", "add", "jdoe", "--full-name", "Again", "--role", "qa", "--database", db.connectionInfo],
                                   input: password + "\n").status == 1)
            #expect(try runCommand("pocare-control", ["users", "add", "kim", "--full-name", "Kim", "--role", "boss", "--database", db.connectionInfo],
                                   input: password + "\n").status == 2)
            #expect(try runCommand("pocare-control", ["users", "add", "kim", "--full-name", "Kim", "--role", "qa", "--database", db.connectionInfo],
                                   input: "short\n").status == 1)

            let web = WebClient(port: port)
            #expect(try await web.signIn("jdoe", password).status == 303)
            #expect(try await web.get("/sites").status == 200)

            #expect(try runCommand("pocare-control", ["users", "passwd", "jdoe", "--iterations", "200000", "--database", db.connectionInfo],
                                   input: "another long password\n").status == 0)
            // A new password ends the user's sessions.
            #expect(try await web.get("/sites").status == 303)
            #expect(try await web.signIn("jdoe", password).status == 401)
            #expect(try await web.signIn("jdoe", "another long password").status == 303)

            #expect(try runCommand("pocare-control", ["users", "disable", "jdoe", "--reason", "left", "--database", db.connectionInfo]).status == 0)
            #expect(try await web.get("/sites").status == 303)
            #expect(try await web.signIn("jdoe", "another long password").status == 401)

            let actions = try ControlAuditTrail.entries(db.connection).map(\.action.action)
            for action in ["web.user.add", "web.user.passwd", "web.user.disable", "web.sign_in", "web.sign_in.failed"] {
                #expect(actions.contains(action), "\(action) is in the audit trail")
            }
        }

        @Test("a web section with a bad value is refused with the file and the field named")
        func badWebSection() throws {
            func parse(_ web: String) -> String {
                do {
                    _ = try ControlConfig.parse("broker: mqtt://127.0.0.1:1883\ndatabase: x\nweb:\n\(web)\n", file: "control.yaml")
                    return "accepted"
                } catch { return "\(error)" }
            }
            #expect(parse("  port: 70000") == "control.yaml:4:9: web.port: 70000 is out of range 1...65535")
            #expect(parse("  port: -1").hasPrefix("control.yaml:4:9: web.port:"))
            #expect(parse("  port: eighty").hasPrefix("control.yaml:4:9: web.port:"))
            #expect(parse("  session_idle: forever").hasPrefix("control.yaml:4:17: web.session_idle:"))
            #expect(parse("  session_idle: -5m").hasPrefix("control.yaml:4:17: web.session_idle:"))
            #expect(parse("  secure_cookies: maybe").hasPrefix("control.yaml:4:19: web.secure_cookies:"))
            #expect(parse("  colour: blue").hasPrefix("control.yaml:4:3: web.colour: unknown key"))
            #expect(parse("  - 8080").hasPrefix("control.yaml:4:3: web: expected a mapping"))
            let good = try ControlConfig.parse("broker: mqtt://127.0.0.1:1883\ndatabase: x\nweb: { port: 8443, secure_cookies: true, session_idle: 10m }\n",
                                               file: "control.yaml")
            #expect(good.web?.port == 8443 && good.web?.secureCookies == true && good.web?.sessionIdleSeconds == 600 && good.web?.address == "127.0.0.1")
            #expect(try ControlConfig.parse("broker: mqtt://127.0.0.1:1883\ndatabase: x\n", file: "control.yaml").web == nil)
        }
    }
}
