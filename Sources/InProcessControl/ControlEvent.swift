import Foundation
import POCareCore

/// Something the engine decided, to be recorded, shown and sent to the Control Site.
public struct ControlEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case raised, escalated, deescalated, cleared
        case acknowledged, shelved, unshelved
        case suppressed, unsuppressed
        case communicationLost = "communication_lost"
        case communicationRestored = "communication_restored"
        case excursion
        case batchStarted = "batch_started"
        case phaseChanged = "phase_changed"
        case batchEnded = "batch_ended"
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
        if let value { parts.append("value=\(formatNumber(value))") }
        if let limit { parts.append("limit=\(formatNumber(limit))") }
        if let priority { parts.append("priority=\(priority.rawValue)") }
        if let state { parts.append("state=\(state.rawValue)") }
        if let user { parts.append("user=\(user)") }
        if let reason { parts.append("reason=\(quoted(reason))") }
        if let until { parts.append("until=\(until.formatted(.iso8601))") }
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
        }
    }
}
