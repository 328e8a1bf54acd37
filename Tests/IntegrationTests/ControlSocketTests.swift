import ControlAPI
import POCareContract
import Foundation
import POCareCore
import SiteStore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Writes raw bytes to the control socket and returns what comes back before it closes (or a timeout).
func rawExchange(_ path: String, _ bytes: [UInt8], wait: Duration = .seconds(5)) -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    let connected = withUnixSocketAddress(path) { connect(fd, $0, $1) }
    guard connected == 0 else { return "connect failed: \(errno)" }
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while poll(&poller, 1, Int32(wait.components.seconds * 1000)) > 0 {
        let count = read(fd, &chunk, chunk.count)
        if count <= 0 { break }
        received += chunk[0..<count]
        if received.last == 0x0A && received.count > 1 && !bytes.isEmpty { break }
    }
    return String(decoding: received, as: UTF8.self)
}

@Suite("The control socket and pocarectl status / reload", .serialized)
struct ControlSocketTests {
    @Test("status answers in human and JSON form; reload is attributed to the Unix user who asked")
    func statusAndReload() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        // Both devices answered a first poll.
        #expect(await waitFor(upTo: .seconds(20)) {
            let answer = (try? run("pocarectl", ["status", "--json", "--socket", fixture.socketPath]))?.output ?? ""
            return answer.components(separatedBy: #""connected":true"#).count == 3
        })

        let json = try run("pocarectl", ["status", "--json", "--socket", fixture.socketPath])
        #expect(json.status == 0, "\(json.errors)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(status["site"] as? String == "durability")
        let devices = try #require(status["devices"] as? [[String: Any]])
        #expect(devices.map { $0["id"] as? String } == ["rocker-1", "str-1"])
        #expect(devices.first?["batch"] as? String == "DUR-1")
        #expect((devices.first?["connected"] as? Bool) == true)

        let human = try run("pocarectl", ["status", "--socket", fixture.socketPath])
        #expect(human.status == 0)
        #expect(human.output.contains("rocker-1") && human.output.contains("DUR-1") && human.output.contains("store"))

        let reloaded = try run("pocarectl", ["reload", "--socket", fixture.socketPath, "--reason", "CC-42 test"])
        #expect(reloaded.status == 0, "\(reloaded.errors)")
        let entry = try #require(try StoreReader(path: fixture.storePath).auditEntries().last { $0.action.action == "config.reload" })
        let me = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        #expect(entry.action.user == me, "the peer's uid, not anything the client claims")
        #expect(entry.action.reason == "CC-42 test")

        try "site: durability\ndevices: []\n".write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let refused = try run("pocarectl", ["reload", "--socket", fixture.socketPath])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("refused") && refused.errors.contains("devices"))
        #expect(try run("pocarectl", ["status", "--json", "--socket", fixture.socketPath]).status == 0, "still serving")
    }

    @Test("malformed, oversized, unknown and unfinished requests get errors; the daemon keeps polling")
    func robustness() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon(extra: ["--print-values"])
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let path = fixture.socketPath

        #expect(rawExchange(path, Array("this is not json\n".utf8)).contains("\"bad_request\""))
        #expect(rawExchange(path, Array(#"{"v":1,"command":"launch-rocket"}"#.utf8) + [0x0A]).contains("\"unknown_command\""))
        #expect(rawExchange(path, Array(#"{"v":9,"command":"status"}"#.utf8) + [0x0A]).contains("\"unsupported_version\""))
        #expect(rawExchange(path, Array(repeating: UInt8(ascii: "x"), count: 200_000)).contains("longer than"))
        // A client that never finishes its line is answered and closed after the idle timeout;
        // meanwhile 100 clients at once all get their answer.
        let slow = Task.detached { rawExchange(path, Array(#"{"v":1,"comm"#.utf8), wait: .seconds(40)) }
        let answers = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask { rawExchange(path, Array(#"{"v":1,"command":"status","id":"c"}"#.utf8) + [0x0A]).contains(#""ok":true"#) }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(answers == 100)
        let before = daemon.output.count
        #expect(await waitFor(upTo: .seconds(5)) { daemon.output.count > before + 10 }, "polling goes on")
        #expect(await slow.value.contains("no complete request"))
        #expect(daemon.isRunning)
    }

    @Test("pocarectl says which socket it tried and why, and exits 3")
    func unreachable() throws {
        let result = try run("pocarectl", ["status", "--socket", "/nonexistent/pocared.sock"])
        #expect(result.status == 3)
        #expect(result.errors.contains("/nonexistent/pocared.sock") && result.errors.contains("no socket there"))
    }

    @Test("a user outside the socket's group cannot connect", .enabled(if: geteuid() == 0, "needs root to run as another user"))
    func otherUserRefused() async throws {
        let fixture = try DaemonFixture(pollInterval: "200ms")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let result = try run("/usr/bin/setpriv", [
            "--reuid=nobody", "--regid=nogroup", "--clear-groups", executable("pocarectl").path, "status", "--socket", fixture.socketPath,
        ])
        #expect(result.status == 3, "\(result.output) \(result.errors)")
        #expect(result.errors.contains("permission denied"))
    }
}
