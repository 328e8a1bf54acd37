import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The broker setup docs/mqtt.md ("Security") gives and the demo uses, on a real mosquitto: each
/// site signs in as itself and may publish only its own messages and read only its own replay
/// requests and registers; the Control Site reads everything and publishes only replay requests
/// and registers; anonymous clients are refused.
final class IdentityBroker {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-acl-\(UUID().uuidString)")
    let broker: TestBroker
    static let passwords = ["site-a": "secret-a", "site-b": "secret-b", "pocare-control": "secret-control"]

    init() throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let passwordFile = folder.appendingPathComponent("pocare.passwd").path
        try "".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        for (user, password) in Self.passwords.sorted(by: { $0.key < $1.key }) {
            let made = try run("/usr/bin/mosquitto_passwd", ["-b", passwordFile, user, password])
            guard made.status == 0 else { throw TestFailure("mosquitto_passwd: \(made.errors)") }
        }
        let aclFile = folder.appendingPathComponent("pocare.acl").path
        // The ACL of docs/mqtt.md, "Security", word for word.
        try """
            pattern write pocare/v1/%u/status
            pattern write pocare/v1/%u/audit
            pattern write pocare/v1/%u/+/telemetry
            pattern write pocare/v1/%u/+/events
            pattern write pocare/v1/%u/+/meta
            pattern write pocare/v1/%u/specs/+
            pattern write pocare/v1/%u/replay/status
            pattern read pocare/v1/%u/replay
            pattern read pocare/v1/%u/register/#
            user pocare-control
            topic read pocare/v1/#
            topic write pocare/v1/+/replay
            topic write pocare/v1/+/register/#
            """.write(toFile: aclFile, atomically: true, encoding: .utf8)
        let port = freeLoopbackPort()
        broker = try TestBroker(extraConfig: """
            listener \(port) 127.0.0.1
            allow_anonymous false
            password_file \(passwordFile)
            acl_file \(aclFile)
            """, port: port)
    }

    deinit {
        broker.stop()
        try? FileManager.default.removeItem(at: folder)
    }

    func login(_ user: String?) -> [String] {
        guard let user else { return [] }
        return ["-u", user, "-P", Self.passwords[user] ?? "wrong"]
    }

    /// Publishes as `user` (nil: anonymously); the tool's result.
    func publish(as user: String?, topic: String, message: String = "{}") throws -> ProcessResult {
        try run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", topic, "-m", message] + login(user))
    }

    /// Subscribes as `user` to `filter` while `during` runs; the `topic payload` lines it received.
    func received(as user: String, filter: String, during: () throws -> Void) async throws -> [String] {
        let output = folder.appendingPathComponent("sub-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let subscriber = Process()
        // Line-buffered, since the test runner's blocked signals leave the tool's own timeout
        // (SIGALRM) without effect: it is killed after the window and must have written by then.
        subscriber.executableURL = URL(fileURLWithPath: "/usr/bin/stdbuf")
        subscriber.arguments = ["-oL", "/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", filter, "-v"]
            + login(user)
        subscriber.standardOutput = try FileHandle(forWritingTo: output)
        subscriber.standardError = FileHandle.nullDevice
        try subscriber.run()
        try await Task.sleep(for: .milliseconds(500))
        try during()
        try await Task.sleep(for: .milliseconds(1_000))
        kill(subscriber.processIdentifier, SIGKILL)
        subscriber.waitUntilExit()
        return (try String(contentsOf: output, encoding: .utf8)).split(separator: "\n").map(String.init)
    }
}

@Suite("Each site a known identity at the broker", .serialized)
struct BrokerIdentityTests {
    @Test("a client with site A's identity cannot publish as site B; an anonymous client cannot publish at all; the Control Site reads every site")
    func publishOnlyAsItself() async throws {
        let setup = try IdentityBroker()
        let lines = try await setup.received(as: "pocare-control", filter: "pocare/v1/#") {
            #expect(try setup.publish(as: "site-a", topic: "pocare/v1/site-a/status", message: "a-own").status == 0)
            _ = try setup.publish(as: "site-a", topic: "pocare/v1/site-b/status", message: "a-as-b")
            _ = try setup.publish(as: "site-a", topic: "pocare/v1/rogue-site/status", message: "a-as-rogue")
            let anonymous = try setup.publish(as: nil, topic: "pocare/v1/rogue-site/status", message: "anonymous")
            #expect(anonymous.status != 0, "the broker refuses an anonymous client: \(anonymous.errors)")
            #expect(try setup.publish(as: "site-b", topic: "pocare/v1/site-b/rocker-1/telemetry", message: "b-own").status == 0)
            _ = try setup.publish(as: "pocare-control", topic: "pocare/v1/site-b/status", message: "control-as-b")
        }
        #expect(lines.sorted() == ["pocare/v1/site-a/status a-own", "pocare/v1/site-b/rocker-1/telemetry b-own"])
    }

    @Test("a site reads only its own replay requests, only the Control Site may send them, and only the site may answer them")
    func replayOnlyBetweenTheTwo() async throws {
        let setup = try IdentityBroker()
        let atB = try await setup.received(as: "site-b", filter: "pocare/v1/+/replay") {
            #expect(try setup.publish(as: "pocare-control", topic: "pocare/v1/site-b/replay", message: "control-to-b").status == 0)
            #expect(try setup.publish(as: "pocare-control", topic: "pocare/v1/site-a/replay", message: "control-to-a").status == 0)
            _ = try setup.publish(as: "site-a", topic: "pocare/v1/site-b/replay", message: "a-to-b")
        }
        #expect(atB == ["pocare/v1/site-b/replay control-to-b"])
        let atA = try await setup.received(as: "site-a", filter: "pocare/v1/site-b/#") {
            _ = try setup.publish(as: "site-b", topic: "pocare/v1/site-b/status", message: "b-status")
        }
        #expect(atA.isEmpty, "a site reads nothing of another site")
        // Answers: only the site answers on its replay status; another site, the Control Site's
        // own identity or an anonymous client cannot forge "refused, pruned through N" for it.
        let answers = try await setup.received(as: "pocare-control", filter: "pocare/v1/+/replay/status") {
            #expect(try setup.publish(as: "site-b", topic: "pocare/v1/site-b/replay/status", message: "b-answers").status == 0)
            _ = try setup.publish(as: "site-a", topic: "pocare/v1/site-b/replay/status", message: "a-as-b")
            _ = try setup.publish(as: "pocare-control", topic: "pocare/v1/site-b/replay/status", message: "control-as-b")
            _ = try setup.publish(as: nil, topic: "pocare/v1/site-b/replay/status", message: "anonymous")
        }
        #expect(answers == ["pocare/v1/site-b/replay/status b-answers"])
    }

    @Test("registers: only the Control Site publishes a site's register, the site reads its own and no other's, and cannot write its own")
    func registersOnlyFromTheControlSite() async throws {
        let setup = try IdentityBroker()
        let atA = try await setup.received(as: "site-a", filter: "pocare/v1/+/register/#") {
            #expect(try setup.publish(as: "pocare-control", topic: "pocare/v1/site-a/register/specs", message: "control-to-a").status == 0)
            #expect(try setup.publish(as: "pocare-control", topic: "pocare/v1/site-b/register/specs", message: "control-to-b").status == 0)
            _ = try setup.publish(as: "site-a", topic: "pocare/v1/site-a/register/specs", message: "a-releases-for-itself")
            _ = try setup.publish(as: "site-b", topic: "pocare/v1/site-a/register/specs", message: "b-to-a")
            _ = try setup.publish(as: nil, topic: "pocare/v1/site-a/register/specs", message: "anonymous")
        }
        #expect(atA == ["pocare/v1/site-a/register/specs control-to-a"])
        // A site publishes each of its own kinds of message (they all reach the Control Site).
        let fromA = try await setup.received(as: "pocare-control", filter: "pocare/v1/site-a/#") {
            for topic in ["status", "audit", "rocker-1/telemetry", "rocker-1/events", "site/events", "rocker-1/meta",
                          "specs/\(String(repeating: "a", count: 64))", "replay/status"] {
                #expect(try setup.publish(as: "site-a", topic: "pocare/v1/site-a/\(topic)", message: "own").status == 0)
            }
            _ = try setup.publish(as: "site-a", topic: "pocare/v1/site-a/replay", message: "a-asks-itself")
        }
        #expect(fromA.count == 8 && !fromA.contains { $0.hasPrefix("pocare/v1/site-a/replay ") }, "\(fromA)")
    }
}
