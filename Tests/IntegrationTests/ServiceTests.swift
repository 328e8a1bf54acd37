import Foundation
import SiteStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's notify socket; collects what the daemon sends.
final class NotifySocket: Sendable {
    let path: String
    private let fd: Int32
    private let messages = LineBuffer()

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw BrokerError(message: "cannot bind \(path)") }
        let socket = fd
        let thread = Thread { [messages] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(socket, &buffer, buffer.count, 0)
                if count <= 0 { return }
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                messages.append(text)
            }
        }
        thread.start()
    }

    var all: [String] { messages.all }
    func count(_ line: String) -> Int { all.filter { $0.split(separator: "\n").contains(Substring(line)) }.count }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }
}

@Suite("Running under systemd: notify protocol, watchdog, shutdown", .serialized)
struct ServiceTests {
    @Test("READY after start, WATCHDOG while healthy, none while the store writer is stalled, STOPPING on SIGTERM")
    func notifyAndWatchdog() async throws {
        let notify = try NotifySocket()
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { notify.count("READY=1") == 1 })
        #expect(await waitFor(upTo: .seconds(10)) { notify.count("WATCHDOG=1") >= 3 }, "pings every half interval")

        // Stall the writer: another process holds the store's write lock.
        let locker = try RunningProcess("/usr/bin/sqlite3", [fixture.storePath, "-cmd", "BEGIN IMMEDIATE;", "-cmd", "SELECT 'locked';"])
        let stalled = await waitFor(upTo: .seconds(30)) { notify.all.last?.contains("store NOT committing") == true }
        #expect(stalled, "\(notify.all.suffix(2))")
        let pingsWhileStalled = notify.count("WATCHDOG=1")
        try await Task.sleep(for: .seconds(2))
        #expect(notify.count("WATCHDOG=1") == pingsWhileStalled, "no pings while the writer cannot commit")
        locker.kill9()
        #expect(await waitFor(upTo: .seconds(30)) { notify.count("WATCHDOG=1") > pingsWhileStalled }, "pings resume")

        daemon.stop()
        #expect(notify.count("STOPPING=1") == 1)
        #expect(!daemon.isRunning)
    }

    @Test("SIGTERM during heavy polling: every polled sample is committed and the daemon exits")
    func sigtermCommitsEverything() async throws {
        let fixture = try DaemonFixture(pollInterval: "10ms")
        let daemon = try fixture.startDaemon(extra: ["--print-values"])
        _ = await waitFor(upTo: .seconds(20)) { daemon.output.filter { $0.contains(" str-1 ") }.count > 200 }
        daemon.stop()
        #expect(!daemon.isRunning)
        #expect(daemon.errors.contains { $0.contains("stopped") }, "a clean stop, not a kill")
        let printed = daemon.output.filter { !$0.hasPrefix("COMMIT") && !$0.contains(" EVENT ") }
        let reader = try StoreReader(path: fixture.storePath)
        for device in ["rocker-1", "str-1"] {
            let polled = printed.filter { $0.split(separator: " ").dropFirst().first == Substring(device) }.count
            let stored = try reader.sequenceNumbers(stream: "\(device)/telemetry").count
            #expect(polled > 100 && stored == polled, "\(device): \(polled) polled, \(stored) stored")
        }
        #expect(try reader.verifyAudit().isIntact)
        #expect(try reader.auditEntries().last?.action.action == "daemon.stop")
    }
}
