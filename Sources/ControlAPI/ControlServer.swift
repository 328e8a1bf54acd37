import Foundation
import Logging
import POCareCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves the control socket: a Unix stream socket, mode 0660 with the operators' group, one
/// JSON request per line. Each connection is served on a thread of its own; the peer's user
/// comes from SO_PEERCRED. Bad input (not JSON, a line over the limit, an unknown command, a
/// client that never finishes its line) gets an error or a closed connection, never a crash,
/// and never holds up the daemon.
public final class ControlServer: Sendable {
    public struct Settings: Sendable {
        public var path: String
        public var group: String?
        public var maxLineBytes = 64 * 1024
        public var idleTimeout: Duration = .seconds(30)
        public var maxConnections = 256
        public init(path: String, group: String?) {
            self.path = path
            self.group = group
        }
    }

    public enum StartError: Error, CustomStringConvertible {
        case socket(path: String, message: String)
        public var description: String {
            switch self {
            case .socket(let path, let message): "control socket \(path): \(message)"
            }
        }
    }

    public let settings: Settings
    private let handler: @Sendable (ControlRequest, ControlPeer) async -> ControlResponse
    private let listener: Int32
    private let stopRequested = Atomic<Bool>(false)
    private let connections = Atomic<Int>(0)
    private let logger = Logger(label: "pocare.control-socket")

    /// Binds and listens at once, so a daemon reports READY only with a working socket.
    public init(settings: Settings, handler: @escaping @Sendable (ControlRequest, ControlPeer) async -> ControlResponse) throws {
        self.settings = settings
        self.handler = handler
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StartError.socket(path: settings.path, message: String(cString: strerror(errno))) }
        try? FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: settings.path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        unlink(settings.path)  // a socket left by an earlier run
        guard let bound = withUnixSocketAddress(settings.path, { bind(fd, $0, $1) }) else {
            close(fd)
            throw StartError.socket(path: settings.path, message: "path too long")
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw StartError.socket(path: settings.path, message: message)
        }
        // Owner and group may connect; others may not.
        chmod(settings.path, 0o660)
        if let group = settings.group {
            guard let entry = getgrnam(group) else {
                close(fd)
                unlink(settings.path)
                throw StartError.socket(path: settings.path, message: "group '\(group)' does not exist")
            }
            if chown(settings.path, UInt32.max, entry.pointee.gr_gid) != 0 {
                let message = String(cString: strerror(errno))
                close(fd)
                unlink(settings.path)
                throw StartError.socket(path: settings.path, message: "cannot give it to group '\(group)': \(message)")
            }
        }
        listener = fd
    }

    public func start() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "control-socket"
        thread.start()
    }

    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(settings.path)
    }

    private func acceptLoop() {
        while !stopRequested.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            if connections.add(1, ordering: .relaxed).newValue > settings.maxConnections {
                connections.subtract(1, ordering: .relaxed)
                writeLine(client, ControlResponse.failure(id: nil, .busy, "too many connections").encoded())
                close(client)
                continue
            }
            let thread = Thread { [self] in
                serve(client)
                close(client)
                connections.subtract(1, ordering: .relaxed)
            }
            thread.start()
        }
    }

    /// `struct ucred` of <sys/socket.h> (glibc exposes it only with _GNU_SOURCE).
    struct PeerCredentials {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    static func peer(of fd: Int32) -> ControlPeer? {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        var user = "uid \(credentials.uid)"
        if let entry = getpwuid(credentials.uid), let name = entry.pointee.pw_name { user = String(cString: name) }
        return ControlPeer(uid: credentials.uid, pid: credentials.pid, user: user)
    }

    private func serve(_ fd: Int32) {
        guard let peer = Self.peer(of: fd) else { return }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let idleMilliseconds = Int32(settings.idleTimeout.components.seconds * 1000)
        while !stopRequested.load(ordering: .relaxed) {
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { respond(to: line, peer: peer, fd: fd) }
            }
            if buffer.count > settings.maxLineBytes {
                writeLine(fd, ControlResponse.failure(id: nil, .badRequest, "request line longer than \(settings.maxLineBytes) bytes").encoded())
                return
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, idleMilliseconds)
            if ready == 0 {
                // A client that never finishes its line must not hold a thread forever.
                writeLine(fd, ControlResponse.failure(id: nil, .badRequest, "no complete request within \(settings.idleTimeout)").encoded())
                return
            }
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { return }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    private func respond(to line: [UInt8], peer: ControlPeer, fd: Int32) {
        let response: ControlResponse
        switch ControlRequest.decode(line: line) {
        case .request(let request): response = runBlocking { await self.handler(request, peer) }
        case .rejected(let rejection): response = rejection
        }
        writeLine(fd, response.encoded())
    }

    /// Waits on this connection's own thread for the daemon's answer.
    private func runBlocking(_ work: @escaping @Sendable () async -> ControlResponse) -> ControlResponse {
        let box = Mutex<ControlResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let response = await work()
            box.withLock { $0 = response }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 } ?? .failure(id: nil, .failed, "no response")
    }

    private func writeLine(_ fd: Int32, _ text: String) {
        let bytes = Array((text + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }
}
