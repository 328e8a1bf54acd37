import Foundation

/// The control socket's protocol, version 1: one JSON request per line, one JSON response
/// per line. See docs/control-socket.md.
public struct ControlRequest: Codable, Sendable {
    public static let version = 1
    public var v: Int
    /// Echoed in the response, so a client can match them.
    public var id: String?
    public var command: String
    public var arguments: [String: String]

    public init(command: String, arguments: [String: String] = [:], id: String? = nil) {
        self.v = Self.version
        self.id = id
        self.command = command
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey { case v, id, command, arguments = "args" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v)
        id = try c.decodeIfPresent(String.self, forKey: .id)
        command = try c.decode(String.self, forKey: .command)
        arguments = try c.decodeIfPresent([String: String].self, forKey: .arguments) ?? [:]
    }
}

public struct ControlResponse: Codable, Sendable {
    public enum ErrorCode: String, Codable, Sendable {
        case badRequest = "bad_request"
        case unsupportedVersion = "unsupported_version"
        case unknownCommand = "unknown_command"
        case refused
        case failed
        case busy
    }

    public struct Failure: Codable, Sendable {
        public var code: ErrorCode
        public var message: String
    }

    public var v: Int
    public var id: String?
    public var ok: Bool
    public var error: Failure?
    /// The command's result as a JSON object (text), so each command owns its shape.
    public var result: String?

    public static func success(id: String?, result: String) -> ControlResponse {
        ControlResponse(v: ControlRequest.version, id: id, ok: true, error: nil, result: result)
    }

    public static func failure(id: String?, _ code: ErrorCode, _ message: String) -> ControlResponse {
        ControlResponse(v: ControlRequest.version, id: id, ok: false, error: Failure(code: code, message: message), result: nil)
    }

    /// One line of JSON (no newline).
    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) }
            ?? #"{"ok":false,"v":1,"error":{"code":"failed","message":"response could not be encoded"}}"#
    }
}

/// Who is on the other end of the socket, from the kernel (SO_PEERCRED), not from the client.
public struct ControlPeer: Sendable, Hashable {
    public var uid: UInt32
    public var pid: Int32
    public var user: String
}
