import Foundation
import POCareCore

/// Something the engine decided, to be recorded, shown and sent to the Control Site.
public struct ControlEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case raised, escalated, deescalated, cleared
        case acknowledged, shelved, unshelved
        /// An operator released a latched alarm (or the batch ended).
        case reset
        case outOfService = "out_of_service"
        case inService = "in_service"
        case suppressed, unsuppressed
        case communicationLost = "communication_lost"
        case communicationRestored = "communication_restored"
        case excursion
        case batchStarted = "batch_started"
        case phaseChanged = "phase_changed"
        case batchEnded = "batch_ended"
        /// A batch taken up again after the daemon was down; `since`...`until` was not watched.
        case batchResumed = "batch_resumed"
        /// An alarm still standing when its batch ended: recorded as it stood, never as cleared.
        case openAtBatchEnd = "open_at_batch_end"
        /// An operator took a batch off the phase its device reports: phases are set by hand from then on.
        case phaseFollowStopped = "phase_follow_stopped"
    }

    public var kind: Kind
    /// UTC wall-clock time of the sample or operator action that caused the event.
    public var time: Date
    public var device: String
    public var alarm: AlarmID?
    public var level: AlarmLevel?
    public var previousLevel: AlarmLevel?
    public var side: AlarmSide?
    /// The alarm's state after the event.
    public var state: AlarmState?
    public var priority: AlarmPriority?
    public var value: Double?
    /// The limit the value crossed, for raised and escalated events.
    public var limit: Double?
    public var user: String?
    public var reason: String?
    public var batchId: String?
    public var phase: String?
    public var previousPhase: String?
    public var specFingerprint: String?
    public var excursion: ExcursionRecord?
    public var until: Date?
    /// The start of an interval the event reports (with `until`), such as the time a resumed
    /// batch was not watched, or for `in_service` the time the alarm or device was taken out of service.
    public var since: Date?
    /// For a discrete alarm on an enumerated status: the label the device reported.
    public var label: String?
    /// For batch_started: the starting material the operator named (a split source pairs batches).
    public var startingMaterial: String?

    public init(kind: Kind, time: Date, device: String) {
        self.kind = kind
        self.time = time
        self.device = device
    }

    /// One line for logs and the live view: `raised rocker-1/temperature/limit level=action ...`.
    public var summary: String {
        var parts = [kind.rawValue]
        if let alarm { parts.append(alarm.description) } else { parts.append(device) }
        if let level { parts.append("level=\(level)") }
        if let side, let level, level != .normal, alarm?.kind == .limit || alarm?.kind == .rate { parts.append("side=\(side.rawValue)") }
        if let label { parts.append("value=\(label)") } else if let value { parts.append("value=\(formatNumber(value))") }
        if let limit { parts.append("limit=\(formatNumber(limit))") }
        if let priority { parts.append("priority=\(priority.rawValue)") }
        if let state { parts.append("state=\(state.rawValue)") }
        if let user { parts.append("user=\(user)") }
        if let reason { parts.append("reason=\(quoted(reason))") }
        if let since { parts.append("since=\(UTCTime.formatSeconds(since))") }
        if let until { parts.append("until=\(UTCTime.formatSeconds(until))") }
        if let e = excursion {
            parts.append("duration=\(formatNumber(Double(e.duration.components.seconds) + Double(e.duration.components.attoseconds) / 1e18))s")
            parts.append("worst=\(formatNumber(e.worstValue))")
            parts.append("area=\(formatNumber(e.areaOutside))")
        }
        if let previousPhase { parts.append("from=\(previousPhase)") }
        if let phase { parts.append("phase=\(phase)") }
        if let batchId { parts.append("batch=\(batchId)") }
        if let specFingerprint { parts.append("spec=\(specFingerprint.dropFirst("sha256:".count).prefix(12))") }
        return parts.joined(separator: " ")
    }

    private func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A moment for an operator action: UTC for the record, monotonic for durations.
public struct Timestamp: Sendable, Hashable {
    public var wall: Date
    public var monotonic: Int64

    public init(wall: Date, monotonic: Int64) {
        self.wall = wall
        self.monotonic = monotonic
    }
}

public enum ControlError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownDevice(String)
    case unknownAlarm(String)
    case noBatch(device: String)
    case batchRunning(device: String, batch: String)
    case unknownPhase(String, known: [String])
    case specNotForProfile(spec: String, profile: String)
    case reasonRequired
    case nothingToAcknowledge(AlarmID, AlarmState)
    case notShelved(AlarmID)
    case invalidShelveDuration(Duration)
    case suppressed(AlarmID)
    case notLatched(AlarmID)
    case conditionStands(AlarmID)
    case outOfService(AlarmID)
    case alreadyOutOfService(String)
    case notOutOfService(String)
    case samePhase(String)

    public var description: String {
        switch self {
        case .unknownDevice(let d): "unknown device '\(d)'"
        case .unknownAlarm(let a): "unknown alarm '\(a)'"
        case .noBatch(let d): "device '\(d)' has no batch running"
        case .batchRunning(let d, let b): "device '\(d)' is already running batch '\(b)'; end it first"
        case .unknownPhase(let p, let known): "phase '\(p)' is not in the spec (phases: \(known.joined(separator: ", ")))"
        case .specNotForProfile(let s, let p): "spec \(s) does not name device profile '\(p)'"
        case .reasonRequired: "a reason is required"
        case .nothingToAcknowledge(let a, let s): "alarm \(a) has nothing to acknowledge (state \(s.rawValue))"
        case .notShelved(let a): "alarm \(a) is not shelved"
        case .invalidShelveDuration(let d): "shelving must last between 1 s and 24 h, not \(d)"
        case .suppressed(let a): "alarm \(a) is suppressed by design and cannot be shelved"
        case .notLatched(let a): "alarm \(a) is not latched; only a latched alarm whose condition has returned can be reset"
        case .conditionStands(let a): "alarm \(a) cannot be reset: its condition still stands"
        case .outOfService(let a): "alarm \(a) is out of service; return it to service first"
        case .alreadyOutOfService(let t): "\(t) is already out of service"
        case .notOutOfService(let t): "\(t) is not out of service"
        case .samePhase(let p): "the batch is already in phase '\(p)'"
        }
    }
}

// MARK: JSON

extension AlarmID: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = AlarmID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad alarm id '\(text)'"))
        }
        self = id
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension AlarmLevel: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let level = [AlarmLevel.normal, .alert, .action].first(where: { $0.description == text }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad level '\(text)'"))
        }
        self = level
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension AlarmSide: Codable {}
extension AlarmState: Codable {}
extension ControlEvent.Kind: Codable {}

extension ExcursionRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case alarm, batchId = "batch", phase, specFingerprint = "spec", start, end, durationSeconds = "duration_s",
            worstValue = "worst_value", worstLevel = "worst_level", side, areaOutside = "area_outside",
            openAtBatchEnd = "open_at_batch_end"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        alarm = try c.decode(AlarmID.self, forKey: .alarm)
        batchId = try c.decode(String.self, forKey: .batchId)
        phase = try c.decode(String.self, forKey: .phase)
        specFingerprint = try c.decode(String.self, forKey: .specFingerprint)
        start = try c.decode(Date.self, forKey: .start)
        end = try c.decode(Date.self, forKey: .end)
        // Read back from a stored record, which someone may have edited: a value beyond what
        // a duration can hold is a decoding error, not a trap.
        let seconds = try c.decode(Double.self, forKey: .durationSeconds)
        guard seconds.isFinite, abs(seconds) < 9e9 else {
            throw DecodingError.dataCorruptedError(forKey: .durationSeconds, in: c, debugDescription: "duration \(seconds) s is out of range")
        }
        duration = .nanoseconds(Int64((seconds * 1e9).rounded()))
        worstValue = try c.decode(Double.self, forKey: .worstValue)
        worstLevel = try c.decode(AlarmLevel.self, forKey: .worstLevel)
        side = try c.decode(AlarmSide.self, forKey: .side)
        areaOutside = try c.decode(Double.self, forKey: .areaOutside)
        openAtBatchEnd = try c.decodeIfPresent(Bool.self, forKey: .openAtBatchEnd) ?? false
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(alarm, forKey: .alarm)
        try c.encode(batchId, forKey: .batchId)
        try c.encode(phase, forKey: .phase)
        try c.encode(specFingerprint, forKey: .specFingerprint)
        try c.encode(start, forKey: .start)
        try c.encode(end, forKey: .end)
        try c.encode(Double(duration.nanoseconds) / 1e9, forKey: .durationSeconds)
        try c.encode(worstValue, forKey: .worstValue)
        try c.encode(worstLevel, forKey: .worstLevel)
        try c.encode(side, forKey: .side)
        try c.encode(areaOutside, forKey: .areaOutside)
        if openAtBatchEnd { try c.encode(true, forKey: .openAtBatchEnd) }
    }
}

extension ControlEvent: Codable {
    enum CodingKeys: String, CodingKey {
        case kind, time, device, alarm, level, previousLevel = "previous_level", side, state, priority, value, limit,
            user, reason, batchId = "batch", phase, previousPhase = "previous_phase", specFingerprint = "spec",
            excursion, until, since, label, startingMaterial = "starting_material"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try c.decode(Kind.self, forKey: .kind), time: try c.decode(Date.self, forKey: .time),
            device: try c.decode(String.self, forKey: .device))
        alarm = try c.decodeIfPresent(AlarmID.self, forKey: .alarm)
        level = try c.decodeIfPresent(AlarmLevel.self, forKey: .level)
        previousLevel = try c.decodeIfPresent(AlarmLevel.self, forKey: .previousLevel)
        side = try c.decodeIfPresent(AlarmSide.self, forKey: .side)
        state = try c.decodeIfPresent(AlarmState.self, forKey: .state)
        priority = try c.decodeIfPresent(AlarmPriority.self, forKey: .priority)
        value = try c.decodeIfPresent(Double.self, forKey: .value)
        limit = try c.decodeIfPresent(Double.self, forKey: .limit)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        batchId = try c.decodeIfPresent(String.self, forKey: .batchId)
        phase = try c.decodeIfPresent(String.self, forKey: .phase)
        previousPhase = try c.decodeIfPresent(String.self, forKey: .previousPhase)
        specFingerprint = try c.decodeIfPresent(String.self, forKey: .specFingerprint)
        excursion = try c.decodeIfPresent(ExcursionRecord.self, forKey: .excursion)
        until = try c.decodeIfPresent(Date.self, forKey: .until)
        since = try c.decodeIfPresent(Date.self, forKey: .since)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        startingMaterial = try c.decodeIfPresent(String.self, forKey: .startingMaterial)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(time, forKey: .time)
        try c.encode(device, forKey: .device)
        try c.encodeIfPresent(alarm, forKey: .alarm)
        try c.encodeIfPresent(level, forKey: .level)
        try c.encodeIfPresent(previousLevel, forKey: .previousLevel)
        try c.encodeIfPresent(side, forKey: .side)
        try c.encodeIfPresent(state, forKey: .state)
        try c.encodeIfPresent(priority, forKey: .priority)
        try c.encodeIfPresent(value, forKey: .value)
        try c.encodeIfPresent(limit, forKey: .limit)
        try c.encodeIfPresent(user, forKey: .user)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(batchId, forKey: .batchId)
        try c.encodeIfPresent(phase, forKey: .phase)
        try c.encodeIfPresent(previousPhase, forKey: .previousPhase)
        try c.encodeIfPresent(specFingerprint, forKey: .specFingerprint)
        try c.encodeIfPresent(excursion, forKey: .excursion)
        try c.encodeIfPresent(until, forKey: .until)
        try c.encodeIfPresent(since, forKey: .since)
        try c.encodeIfPresent(label, forKey: .label)
        try c.encodeIfPresent(startingMaterial, forKey: .startingMaterial)
    }
}
