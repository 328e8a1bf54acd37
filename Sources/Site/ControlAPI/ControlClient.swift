import Foundation
import POCareCore

#if canImport(Glibc)
import Glibc
#endif

/// pocarectl's side of the control socket: one request, one response.
public struct ControlClient: Sendable {
    /// The site daemon's socket when it is there (operators are not the service user), else the
    /// one a daemon run by this user listens on by default.
    public static var defaultPath: String {
        FileManager.default.fileExists(atPath: DefaultPaths.systemSocket) ? DefaultPaths.systemSocket : DefaultPaths.socket
    }

    public enum ClientError: Error, CustomStringConvertible {
        /// The daemon could not be reached (pocarectl exits 3).
        case unreachable(path: String, reason: String)
        case protocolError(String)
        /// The daemon answered with an error (pocarectl exits 1).
        case refused(ControlResponse.Failure)
        public var description: String {
            switch self {
            case .refused(let failure): "\(failure)"
            case .unreachable(let path, let reason): "cannot reach pocared at \(path): \(reason)"
            case .protocolError(let message): "unexpected answer from pocared: \(message)"
            }
        }
    }

    public let path: String
    public var timeout: Duration = .seconds(30)

    /// The person a root client acts for (`--user`), sent with every request.
    public var user: String?

    public init(path: String, user: String? = nil) {
        self.path = path
        self.user = user
    }

    /// Sends one command and returns the daemon's result, or its refusal as `ClientError.refused`.
    public func call(_ command: ControlCommand) throws(ClientError) -> ControlResult {
        let response = try send(ControlRequest(command, user: user))
        guard response.ok, let result = response.result else {
            throw .refused(response.error ?? .init(code: .failed, message: "the daemon refused without a reason"))
        }
        return result
    }

    public func send(_ request: ControlRequest) throws(ClientError) -> ControlResponse {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unreachable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard let connected = withUnixSocketAddress(path, { connect(fd, $0, $1) }) else {
            throw .unreachable(path: path, reason: "path too long")
        }
        guard connected == 0 else {
            let reason = errno == ENOENT ? "no socket there (is pocared running?)"
                : errno == EACCES ? "permission denied (are you in the operators' group?)"
                : errno == ECONNREFUSED ? "connection refused (pocared is not listening)" : String(cString: strerror(errno))
            throw .unreachable(path: path, reason: reason)
        }
        var line: Data
        do {
            line = try JSONEncoder.control.encode(request)
        } catch {
            throw .protocolError("request could not be encoded: \(error)")
        }
        line.append(0x0A)
        let sent = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == line.count else { throw .unreachable(path: path, reason: "the daemon closed the connection") }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let milliseconds = Int32(timeout.components.seconds * 1000)
        while !buffer.contains(0x0A) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) > 0 else { throw .unreachable(path: path, reason: "no answer within \(timeout)") }
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw .unreachable(path: path, reason: "the daemon closed the connection") }
            buffer.append(contentsOf: chunk[0..<count])
        }
        let responseLine = buffer[..<buffer.firstIndex(of: 0x0A)!]
        // An answer that is not a response is shown as it came; the decoder's text would not help an operator.
        guard let response = try? JSONDecoder.control.decode(ControlResponse.self, from: Data(responseLine)) else {
            throw .protocolError(String(decoding: responseLine.prefix(200), as: UTF8.self))
        }
        return response
    }
}
