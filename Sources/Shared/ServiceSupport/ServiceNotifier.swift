import Foundation
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

/// Speaks systemd's notify protocol directly: one datagram of `KEY=value` lines to the Unix
/// socket in `NOTIFY_SOCKET`. A few lines of socket code instead of linking libsystemd keep the
/// daemon free of a library it would use for nothing else, and work unchanged outside systemd
/// (no socket, no messages).
public struct ServiceNotifier: Sendable {
    public let socketPath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends `lines` (e.g. `READY=1`, `STATUS=...`); returns false if nothing could be sent.
    @discardableResult
    public func send(_ lines: String...) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(lines.joined(separator: "\n").utf8)
        let sent = withUnixSocketAddress(socketPath) { address, length in
            message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, address, length) }
        }
        return sent == message.count
    }

    /// The watchdog interval systemd expects pings within (`WATCHDOG_USEC`), if any.
    public static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], let expected = Int32(pid), expected != getpid() { return nil }
        return .microseconds(usec)
    }
}
