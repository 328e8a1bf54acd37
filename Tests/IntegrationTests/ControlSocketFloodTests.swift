import Foundation
import POCareCore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Opens `connections` connections to the control socket and writes up to `requests` status
/// requests on each without ever reading an answer, as a broken or hostile client would.
/// Returns the open descriptors; closing them is the client going away.
func floodControlSocket(_ path: String, connections: Int, requests: Int) -> [Int32] {
    let line = Array(#"{"v":1,"command":"status"}"#.utf8) + [0x0A]
    let payload = Array((0..<requests).map { _ in line }.joined())
    var open: [Int32] = []
    for _ in 0..<connections {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard withUnixSocketAddress(path, { connect(fd, $0, $1) }) == 0 else {
            close(fd)
            continue
        }
        // As much as the kernel takes without waiting; the daemon decides what to do with it.
        _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        open.append(fd)
    }
    return open
}

func threadCount(of pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? 0
}

@Suite("The control socket under a flood", .serialized)
struct ControlSocketFloodTests {
    @Test("a client that floods requests and never reads is cut off; once it stops, operators get in at once")
    func floodThenStatus() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon(extra: ["--print-values"])
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        #expect(await waitFor(upTo: .seconds(20)) {
            (try? run("pocarectl", ["status", "--socket", fixture.socketPath]).status) == 0
        })
        let threadsBefore = threadCount(of: daemon.pid)

        let flood = floodControlSocket(fixture.socketPath, connections: 260, requests: 2000)
        #expect(flood.count > 0)
        // The flood stands for a while, unread, then the client goes away.
        let before = daemon.output.count
        #expect(await waitFor(upTo: .seconds(10)) { daemon.output.count > before + 20 }, "polling goes on during the flood")
        for fd in flood { close(fd) }

        // Operators are served again well before a poll-minute passes (the old daemon kept
        // answering the dead client's queue for minutes).
        #expect(await waitFor(upTo: .seconds(10)) {
            (try? run("pocarectl", ["status", "--socket", fixture.socketPath]).status) == 0
        })
        #expect(await waitFor(upTo: .seconds(10)) { threadCount(of: daemon.pid) <= threadsBefore + 4 },
                "the connections' threads are gone: \(threadCount(of: daemon.pid)) now, \(threadsBefore) before")
        #expect(daemon.isRunning)
    }

    @Test("a client that sends far ahead of its answers is told so and closed")
    func queuedTooMany() async throws {
        let fixture = try DaemonFixture(pollInterval: "200ms")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        let many = Array((0..<100).map { _ in Array(#"{"v":1,"command":"status"}"#.utf8) + [0x0A] }.joined())
        let answer = rawExchange(fixture.socketPath, many, wait: .seconds(5))
        #expect(answer.contains("\"busy\"") && answer.contains("queued"), "\(answer.prefix(300))")
        #expect(try run("pocarectl", ["status", "--socket", fixture.socketPath]).status == 0)
    }
}
