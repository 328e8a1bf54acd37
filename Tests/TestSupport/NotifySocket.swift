import Foundation
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's notify socket; collects what the daemon sends.
public final class NotifySocket: Sendable {
    public let path: String
    private let fd: Int32
    private let messages = LineBuffer()

    public init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = withUnixSocketAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { throw TestFailure("cannot bind \(path)") }
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

    public var all: [String] { messages.all }

    /// Waits for `rounds` more watchdog rounds (each sends one datagram, healthy or not), so a
    /// test can check what did not happen meanwhile without a fixed sleep.
    public func waitForRounds(_ rounds: Int, upTo limit: Duration = .seconds(20)) async -> Bool {
        let start = all.count
        return await waitFor(upTo: limit) { all.count >= start + rounds }
    }
    public func count(_ line: String) -> Int { all.filter { $0.split(separator: "\n").contains(Substring(line)) }.count }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }
}
