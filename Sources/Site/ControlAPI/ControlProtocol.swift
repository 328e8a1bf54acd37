import Foundation

/// The control socket's protocol, version 1: one JSON request per line, one JSON response per
/// line. The types below are the protocol; docs/control-socket.md describes their JSON.
///
/// A request: `{"v":1,"id":"7","command":"ack","args":{"alarm":"rocker-1/temperature/limit","reason":"..."}}`.
public struct ControlRequest: Sendable, Hashable {
    public static let version = 1
    public var v: Int
    /// Echoed in the response, so a client can match them.
    public var id: String?
    public var command: ControlCommand
    /// The person a root client acts for (`pocarectl --user NAME`): root is no one's name, so
    /// a site's actions are attributed to the person. Only a client running as root may name
    /// someone other than itself.
    public var user: String?

    public init(_ command: ControlCommand, id: String? = nil, user: String? = nil) {
        self.v = Self.version
        self.id = id
        self.command = command
        self.user = user
    }
}

/// Every command the daemon answers, with its typed arguments.
public enum ControlCommand: Sendable, Hashable {
    case status
    case reload(reason: String?)
    case devices
    case values(device: String)
    case alarms(AlarmQuery)
    case acknowledge(AlarmAction)
    case shelve(ShelveAction)
    case unshelve(AlarmAction)
    /// Releases a latched alarm whose condition has returned.
    case reset(AlarmAction)
    /// Takes an alarm or a whole device out of service (maintenance).
    case outOfService(ServiceAction)
    case inService(ServiceAction)
    case batchStart(BatchStart)
    case batchPhase(BatchPhaseChange)
    case batchEnd(BatchEnd)
    case batchList
    /// One device's record of a batch; `device` may be left out for a batch that ran on one device.
    case batchReport(batch: String, device: String? = nil)
    /// Commits the batch's record again as a `batch_record` event, so the Control Site gets it again.
    case batchPublish(batch: String, device: String? = nil)
    case auditVerify
    case auditShow(AuditQuery)
    /// Every stream's hash chain (samples, events, site events, audit) and the file.
    case verify
    /// The Control Site's register of released specs, as the site holds it.
    case specs

    /// The command's name on the wire.
    public enum Name: String, Sendable, CaseIterable, Codable {
        case status, reload, devices, values, alarms
        case acknowledge = "ack"
        case shelve, unshelve, reset
        case outOfService = "out_of_service"
        case inService = "in_service"
        case batchStart = "batch.start"
        case batchPhase = "batch.phase"
        case batchEnd = "batch.end"
        case batchList = "batch.list"
        case batchReport = "batch.report"
        case batchPublish = "batch.publish"
        case auditVerify = "audit.verify"
        case auditShow = "audit.show"
        case verify
        case specs
    }

    public var name: Name {
        switch self {
        case .status: .status
        case .reload: .reload
        case .devices: .devices
        case .values: .values
        case .alarms: .alarms
        case .acknowledge: .acknowledge
        case .shelve: .shelve
        case .unshelve: .unshelve
        case .reset: .reset
        case .outOfService: .outOfService
        case .inService: .inService
        case .batchStart: .batchStart
        case .batchPhase: .batchPhase
        case .batchEnd: .batchEnd
        case .batchList: .batchList
        case .batchReport: .batchReport
        case .batchPublish: .batchPublish
        case .auditVerify: .auditVerify
        case .auditShow: .auditShow
        case .verify: .verify
        case .specs: .specs
        }
    }

    /// Whether the command changes the site (and so is audited with the peer's user).
    public var changesState: Bool {
        switch self {
        case .reload, .acknowledge, .shelve, .unshelve, .reset, .outOfService, .inService, .batchStart, .batchPhase, .batchEnd,
            .batchPublish: true
        case .status, .devices, .values, .alarms, .batchList, .batchReport, .auditVerify, .auditShow, .verify, .specs: false
        }
    }
}

// MARK: Arguments

public struct AlarmQuery: Codable, Sendable, Hashable {
    /// Past alarm events from the store instead of the alarms standing now.
    public var history: Bool
    /// With `history`: only this device.
    public var device: String?
    /// With `history`: at most this many, the latest (default 200).
    public var limit: Int?
    public init(history: Bool = false, device: String? = nil, limit: Int? = nil) {
        self.history = history
        self.device = device
        self.limit = limit
    }
    enum CodingKeys: String, CodingKey { case history, device, limit }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        history = try c.decodeIfPresent(Bool.self, forKey: .history) ?? false
        device = try c.decodeIfPresent(String.self, forKey: .device)
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
    }
}

public struct AlarmAction: Codable, Sendable, Hashable {
    /// `device/parameter/kind` or `device/communication`.
    public var alarm: String
    public var reason: String
    public init(alarm: String, reason: String) {
        self.alarm = alarm
        self.reason = reason
    }
}

/// Out of service and back: an alarm id, or a device id for all of the device's alarms.
public struct ServiceAction: Codable, Sendable, Hashable {
    /// `device/parameter/kind`, `device/communication` or `device`.
    public var target: String
    public var reason: String
    public init(target: String, reason: String) {
        self.target = target
        self.reason = reason
    }
}

public struct ShelveAction: Codable, Sendable, Hashable {
    public var alarm: String
    /// How long, as a duration text such as `30m` (1 s to 24 h).
    public var duration: String
    public var reason: String
    enum CodingKeys: String, CodingKey { case alarm, duration = "for", reason }
    public init(alarm: String, duration: String, reason: String) {
        self.alarm = alarm
        self.duration = duration
        self.reason = reason
    }
}

public struct BatchStart: Codable, Sendable, Hashable {
    public var device: String
    public var batch: String
    /// A spec file in the site's spec folders, or the fingerprint (in full, or its first 12 or
    /// more hex digits, unambiguous) of a released spec or a spec the daemon knows.
    public var spec: String
    /// The starting phase; on a device that reports its phase, the device's; else the spec's first.
    public var phase: String?
    /// Follow the device's phase: the default on a device that reports one, so this asks for
    /// nothing more there; on a device that reports none it is refused.
    public var followDevicePhase: Bool
    /// On a device that reports its phase: do not follow it, set phases by hand (audited).
    public var manualPhase: Bool
    /// Why, for the audit trail; the daemon refuses a blank one.
    public var reason: String
    /// The starting material's id, where the batch is one of a split (the yearly comparability check pairs them).
    public var startingMaterial: String?
    enum CodingKeys: String, CodingKey { case device, batch, spec, phase, followDevicePhase, manualPhase, reason, startingMaterial }
    public init(
        device: String, batch: String, spec: String, phase: String? = nil, followDevicePhase: Bool = false, manualPhase: Bool = false,
        reason: String, startingMaterial: String? = nil
    ) {
        self.device = device
        self.batch = batch
        self.spec = spec
        self.phase = phase
        self.followDevicePhase = followDevicePhase
        self.manualPhase = manualPhase
        self.reason = reason
        self.startingMaterial = startingMaterial
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        device = try c.decode(String.self, forKey: .device)
        batch = try c.decode(String.self, forKey: .batch)
        spec = try c.decode(String.self, forKey: .spec)
        phase = try c.decodeIfPresent(String.self, forKey: .phase)
        followDevicePhase = try c.decodeIfPresent(Bool.self, forKey: .followDevicePhase) ?? false
        manualPhase = try c.decodeIfPresent(Bool.self, forKey: .manualPhase) ?? false
        reason = try c.decode(String.self, forKey: .reason)
        startingMaterial = try c.decodeIfPresent(String.self, forKey: .startingMaterial)
    }
}

public struct BatchPhaseChange: Codable, Sendable, Hashable {
    public var device: String
    public var phase: String
    /// On a batch that follows the phase its device reports: stop following it, and set this
    /// phase by hand (audited). Refused there without it.
    public var stopFollowingDevice: Bool
    /// Why, for the audit trail; the daemon refuses a blank one.
    public var reason: String
    enum CodingKeys: String, CodingKey { case device, phase, stopFollowingDevice, reason }
    public init(device: String, phase: String, stopFollowingDevice: Bool = false, reason: String) {
        self.device = device
        self.phase = phase
        self.stopFollowingDevice = stopFollowingDevice
        self.reason = reason
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        device = try c.decode(String.self, forKey: .device)
        phase = try c.decode(String.self, forKey: .phase)
        stopFollowingDevice = try c.decodeIfPresent(Bool.self, forKey: .stopFollowingDevice) ?? false
        reason = try c.decode(String.self, forKey: .reason)
    }
}

public struct BatchEnd: Codable, Sendable, Hashable {
    public var device: String
    /// Why, for the audit trail; the daemon refuses a blank one.
    public var reason: String
    public init(device: String, reason: String) {
        self.device = device
        self.reason = reason
    }
}

public struct AuditQuery: Codable, Sendable, Hashable {
    public var user: String?
    /// `*` matches any text, e.g. `batch.*`.
    public var action: String?
    /// UTC, ISO 8601.
    public var since: Date?
    public var until: Date?
    /// Only the last N entries.
    public var last: Int?
    public init(user: String? = nil, action: String? = nil, since: Date? = nil, until: Date? = nil, last: Int? = nil) {
        self.user = user
        self.action = action
        self.since = since
        self.until = until
        self.last = last
    }
}

// MARK: Wire form of a request

private struct NoArguments: Codable {}
private struct ReasonArgument: Codable { var reason: String? }
private struct DeviceArgument: Codable { var device: String }
private struct BatchArgument: Codable {
    var batch: String
    var device: String?
}

extension ControlRequest: Codable {
    enum CodingKeys: String, CodingKey { case v, id, command, user, arguments = "args" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v)
        id = try c.decodeIfPresent(String.self, forKey: .id)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        let text = try c.decode(String.self, forKey: .command)
        guard let name = ControlCommand.Name(rawValue: text) else { throw ControlRequest.UnknownCommand(name: text) }
        func arguments<T: Decodable>(_ type: T.Type) throws -> T {
            if c.contains(.arguments) { return try c.decode(T.self, forKey: .arguments) }
            // A command whose arguments are all optional may leave out `args`.
            return try JSONDecoder.control.decode(T.self, from: Data("{}".utf8))
        }
        switch name {
        case .status: command = .status
        case .reload: command = .reload(reason: try arguments(ReasonArgument.self).reason)
        case .devices: command = .devices
        case .values: command = .values(device: try arguments(DeviceArgument.self).device)
        case .alarms: command = .alarms(try arguments(AlarmQuery.self))
        case .acknowledge: command = .acknowledge(try arguments(AlarmAction.self))
        case .shelve: command = .shelve(try arguments(ShelveAction.self))
        case .unshelve: command = .unshelve(try arguments(AlarmAction.self))
        case .reset: command = .reset(try arguments(AlarmAction.self))
        case .outOfService: command = .outOfService(try arguments(ServiceAction.self))
        case .inService: command = .inService(try arguments(ServiceAction.self))
        case .batchStart: command = .batchStart(try arguments(BatchStart.self))
        case .batchPhase: command = .batchPhase(try arguments(BatchPhaseChange.self))
        case .batchEnd: command = .batchEnd(try arguments(BatchEnd.self))
        case .batchList: command = .batchList
        case .batchReport:
            let a = try arguments(BatchArgument.self)
            command = .batchReport(batch: a.batch, device: a.device)
        case .batchPublish:
            let a = try arguments(BatchArgument.self)
            command = .batchPublish(batch: a.batch, device: a.device)
        case .auditVerify: command = .auditVerify
        case .auditShow: command = .auditShow(try arguments(AuditQuery.self))
        case .verify: command = .verify
        case .specs: command = .specs
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(v, forKey: .v)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(user, forKey: .user)
        try c.encode(command.name, forKey: .command)
        switch command {
        case .status, .devices, .batchList, .auditVerify, .verify, .specs: break
        case .reload(let reason): try c.encode(ReasonArgument(reason: reason), forKey: .arguments)
        case .values(let device): try c.encode(DeviceArgument(device: device), forKey: .arguments)
        case .alarms(let query): try c.encode(query, forKey: .arguments)
        case .acknowledge(let action), .unshelve(let action), .reset(let action): try c.encode(action, forKey: .arguments)
        case .outOfService(let action), .inService(let action): try c.encode(action, forKey: .arguments)
        case .shelve(let action): try c.encode(action, forKey: .arguments)
        case .batchStart(let start): try c.encode(start, forKey: .arguments)
        case .batchPhase(let change): try c.encode(change, forKey: .arguments)
        case .batchEnd(let end): try c.encode(end, forKey: .arguments)
        case .batchReport(let batch, let device), .batchPublish(let batch, let device):
            try c.encode(BatchArgument(batch: batch, device: device), forKey: .arguments)
        case .auditShow(let query): try c.encode(query, forKey: .arguments)
        }
    }

    /// A request line read: the request, or the answer that rejects it.
    public enum Decoded: Sendable {
        case request(ControlRequest)
        case rejected(ControlResponse)
    }

    struct UnknownCommand: Error {
        var name: String
    }

    /// Reads one request line, or says exactly what is wrong with it: not JSON, a command this
    /// daemon does not know, a missing or mistyped argument, another protocol version.
    public static func decode(line: [UInt8]) -> Decoded {
        let data = Data(line)
        // A line that is not an envelope is answered with what one looks like; the decoder's text would not help.
        guard let envelope = try? JSONDecoder.control.decode(Envelope.self, from: data) else {
            let preview = String(decoding: line.prefix(80), as: UTF8.self)
            return .rejected(.failure(
                id: nil, .badRequest, "not a request: expected one JSON object {\"v\":1,\"command\":...} per line, got '\(preview)'"))
        }
        let id = envelope.id
        guard envelope.v == version else {
            return .rejected(.failure(
                id: id, .unsupportedVersion, "protocol version \(envelope.v) is not supported; this daemon speaks \(version)"))
        }
        do {
            return .request(try JSONDecoder.control.decode(ControlRequest.self, from: data))
        } catch let error as UnknownCommand {
            let known = ControlCommand.Name.allCases.map(\.rawValue).joined(separator: ", ")
            return .rejected(.failure(id: id, .unknownCommand, "unknown command '\(error.name)'; this daemon answers: \(known)"))
        } catch DecodingError.keyNotFound(let key, let context) {
            return .rejected(.failure(id: id, .badRequest, "missing field '\(Self.path(context.codingPath + [key]))'"))
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context)
        {
            return .rejected(.failure(
                id: id, .badRequest, "field '\(Self.path(context.codingPath))' is not valid: \(context.debugDescription)"))
        } catch {
            return .rejected(.failure(id: id, .badRequest, "not a request: \(error)"))
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }

    /// What every request has, read first so that even a bad request's answer carries its id.
    private struct Envelope: Decodable {
        var v: Int
        var id: String?
    }
}

extension JSONEncoder {
    /// The control socket's encoding: snake_case keys, sorted, dates as ISO 8601 UTC.
    public static var control: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    public static var control: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

// MARK: Responses

/// A response: `{"v":1,"id":"7","ok":true,"result":{"alarm_action":{...}}}` or
/// `{"v":1,"id":"7","ok":false,"error":{"code":"refused","message":"..."}}`.
public struct ControlResponse: Codable, Sendable {
    public enum ErrorCode: String, Codable, Sendable {
        case badRequest = "bad_request"
        case unsupportedVersion = "unsupported_version"
        case unknownCommand = "unknown_command"
        case refused
        case failed
        case busy
    }

    public struct Failure: Codable, Sendable, Error, CustomStringConvertible {
        public var code: ErrorCode
        public var message: String
        public init(code: ErrorCode, message: String) {
            self.code = code
            self.message = message
        }
        public var description: String { "\(code.rawValue): \(message)" }
    }

    public var v: Int
    public var id: String?
    public var ok: Bool
    public var error: Failure?
    public var result: ControlResult?

    public static func success(id: String?, _ result: ControlResult) -> ControlResponse {
        ControlResponse(v: ControlRequest.version, id: id, ok: true, error: nil, result: result)
    }

    public static func failure(id: String?, _ code: ErrorCode, _ message: String) -> ControlResponse {
        ControlResponse(v: ControlRequest.version, id: id, ok: false, error: Failure(code: code, message: message), result: nil)
    }

    /// One line of JSON (no newline).
    public func encoded() -> String {
        // What cannot be encoded is answered with a failure the client can read.
        (try? JSONEncoder.control.encode(self)).map { String(decoding: $0, as: UTF8.self) }
            ?? #"{"ok":false,"v":1,"error":{"code":"failed","message":"response could not be encoded"}}"#
    }
}

/// Who is on the other end of the socket, from the kernel (SO_PEERCRED), not from the client.
public struct ControlPeer: Sendable, Hashable {
    public var uid: UInt32
    public var pid: Int32
    public var user: String
    public init(uid: UInt32, pid: Int32, user: String) {
        self.uid = uid
        self.pid = pid
        self.user = user
    }
}
