import Foundation
import POCareCore
import ServiceSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("systemd notify protocol")
struct ServiceNotifierTests {
    /// Receives one datagram on a fresh Unix socket, as systemd would.
    func receive(at path: String, after send: () -> Bool) throws -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd); unlink(path) }
        #expect(withUnixSocketAddress(path, { bind(fd, $0, $1) }) == 0)
        #expect(send())
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5000) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    @Test("one datagram of KEY=value lines to NOTIFY_SOCKET")
    func sendsLines() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isActive)
        #expect(try receive(at: path) { notifier.send("READY=1", "STATUS=polling 3 devices") } == "READY=1\nSTATUS=polling 3 devices")
    }

    @Test("outside systemd nothing is sent and nothing fails")
    func inactiveWithoutSocket() {
        let notifier = ServiceNotifier(environment: [:])
        #expect(!notifier.isActive && !notifier.send("READY=1"))
        #expect(!ServiceNotifier(environment: ["NOTIFY_SOCKET": String(repeating: "x", count: 200)]).send("READY=1"), "a path too long")
    }
}
