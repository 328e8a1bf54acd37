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
///
/// Fairness: a connection may queue only a few requests ahead of their answers, a client that
/// stops reading its answers is disconnected after the write timeout, one user may hold only
/// part of the connections, and only a few requests are handed to the daemon at once, so a
/// flood from one client can neither starve the pipeline nor keep another operator out for
/// longer than the write timeout after it stops.
public final class ControlServer: Sendable {
    public struct Settings: Sendable {
        public var path: String
        public var group: String?
        public var maxLineBytes = 64 * 1024
        public var idleTimeout: Duration = .seconds(30)
        public var maxConnections = 64
        /// Connections one Unix user may hold at once; the rest stay free for other operators.
        public var maxConnectionsPerUser = 48
        /// Complete request lines a connection may have waiting beyond the one being answered.
        public var maxQueuedRequests = 16
        /// A client that has not taken an answer within this time is disconnected.
        public var writeTimeout: Duration = .seconds(2)
        /// Answered bytes the kernel holds for a client that is not reading; past it, writes wait.
        public var sendBufferBytes = 256 * 1024
        /// Requests handed to the daemon at the same time, from all connections together.
        public var maxRequestsInFlight = 4
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
    /// Answers a request by calling `reply` exactly once, from any thread.
    public typealias Handler = @Sendable (ControlRequest, ControlPeer, _ reply: @escaping @Sendable (ControlResponse) -> Void) -> Void

    private let handler: Handler
    private let listener: Int32
    private let stopRequested = Atomic<Bool>(false)
    private let connections = Mutex<[UInt32: Int]>([:])
    private let inFlight: DispatchSemaphore
    private let logger = Logger(label: "pocare.control-socket")

    /// Binds and listens at once, so a daemon reports READY only with a working socket.
    public init(settings: Settings, handler: @escaping Handler) throws {
        self.settings = settings
        self.handler = handler
        self.inFlight = DispatchSemaphore(value: max(1, settings.maxRequestsInFlight))
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StartError.socket(path: settings.path, message: String(cString: strerror(errno))) }
        // A folder that cannot be made fails bind just below, with the reason.
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
            guard let peer = Self.peer(of: client) else {
                close(client)
                continue
            }
            configure(client)
            if let refusal = admit(peer) {
                _ = writeLine(client, ControlResponse.failure(id: nil, .busy, refusal).encoded())
                close(client)
                continue
            }
            let thread = Thread { [self] in
                serve(client, peer: peer)
                close(client)
                release(peer)
            }
            thread.start()
        }
    }

    /// Takes a connection slot for the peer, or says why not.
    private func admit(_ peer: ControlPeer) -> String? {
        connections.withLock { counts in
            if counts.values.reduce(0, +) >= settings.maxConnections {
                return "too many connections (\(settings.maxConnections)); try again shortly"
            }
            if counts[peer.uid, default: 0] >= settings.maxConnectionsPerUser {
                return "user \(peer.user) already holds \(settings.maxConnectionsPerUser) connections"
            }
            counts[peer.uid, default: 0] += 1
            return nil
        }
    }

    private func release(_ peer: ControlPeer) {
        connections.withLock { counts in
            counts[peer.uid, default: 1] -= 1
            if counts[peer.uid] == 0 { counts[peer.uid] = nil }
        }
    }

    /// A bounded send buffer and a send timeout: a client that does not read its answers makes
    /// the next write fail within `writeTimeout`, and the connection is closed.
    private func configure(_ fd: Int32) {
        var buffer = Int32(clamping: settings.sendBufferBytes)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
        let (seconds, attoseconds) = settings.writeTimeout.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
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

    private func serve(_ fd: Int32, peer: ControlPeer) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let idleMilliseconds = Int32(clamping: settings.idleTimeout.components.seconds * 1000)
        while !stopRequested.load(ordering: .relaxed) {
            var lines: [ArraySlice<UInt8>] = []
            var lineStart = buffer.startIndex
            while let newline = buffer[lineStart...].firstIndex(of: 0x0A) {
                lines.append(buffer[lineStart..<newline])
                lineStart = newline + 1
            }
            if lines.count > settings.maxQueuedRequests + 1 {
                // Requests sent far ahead of their answers: a client that does not wait for
                // them is flooding, and answering each would tie up the daemon.
                _ = writeLine(fd, ControlResponse.failure(id: nil, .busy, "more than \(settings.maxQueuedRequests) requests queued on one connection; send the next request after the answer to the last").encoded())
                logger.warning("connection closed: too many queued requests", metadata: ["user": "\(peer.user)", "pid": "\(peer.pid)"])
                return
            }
            for line in lines where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
                guard respond(to: Array(line), peer: peer, fd: fd) else {
                    // The client is gone or does not read its answers: nothing more is owed.
                    return
                }
            }
            buffer.removeSubrange(buffer.startIndex..<lineStart)
            if buffer.count > settings.maxLineBytes {
                _ = writeLine(fd, ControlResponse.failure(id: nil, .badRequest, "request line longer than \(settings.maxLineBytes) bytes").encoded())
                return
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, idleMilliseconds)
            if ready == 0 {
                // A client that never finishes its line must not hold a thread forever.
                _ = writeLine(fd, ControlResponse.failure(id: nil, .badRequest, "no complete request within \(settings.idleTimeout)").encoded())
                return
            }
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { return }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Answers one request line; false when the answer could not be delivered.
    private func respond(to line: [UInt8], peer: ControlPeer, fd: Int32) -> Bool {
        let response: ControlResponse
        switch ControlRequest.decode(line: line) {
        case .request(let request):
            inFlight.wait()
            response = waitForReply { reply in handler(request, peer, reply) }
            inFlight.signal()
        case .rejected(let rejection):
            response = rejection
        }
        return writeLine(fd, response.encoded())
    }

    /// Waits on this connection's own thread for the daemon's answer; no task is started and no
    /// cooperative thread is held.
    private func waitForReply(_ ask: (@escaping @Sendable (ControlResponse) -> Void) -> Void) -> ControlResponse {
        let box = Mutex<ControlResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        ask { response in
            box.withLock { $0 = response }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 } ?? .failure(id: nil, .failed, "no response")
    }

    /// Writes one line; false when the client is gone or did not read within the write timeout.
    private func writeLine(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array((text + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }
}
