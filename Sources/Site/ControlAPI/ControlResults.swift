import Foundation
import POCareContract

/// What a command answers. On the wire the result is an object with one key naming its kind,
/// e.g. `"result":{"status":{...}}`; times are UTC ISO 8601 text with milliseconds.
public enum ControlResult: Sendable {
    case status(StatusReport)
    case reload(ReloadResult)
    case devices(DeviceList)
    case values(DeviceValues)
    case alarms(AlarmList)
    case alarmHistory(AlarmHistory)
    case alarmAction(AlarmActionResult)
    case batch(BatchState)
    case batchList(BatchList)
    case batchReport(BatchReport)
    case auditVerification(AuditVerificationReport)
    case auditEntries(AuditEntryList)
    case verification(VerificationReport)
    case specs(SpecRegisterList)
}

extension ControlResult: Codable {
    enum CodingKeys: String, CodingKey {
        case status, reload, devices, values, alarms, alarmHistory, alarmAction, batch, batchList, batchReport,
            auditVerification, auditEntries, verification, specs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = c.allKeys.first, c.allKeys.count == 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "a result names exactly one kind"))
        }
        switch key {
        case .status: self = .status(try c.decode(StatusReport.self, forKey: key))
        case .reload: self = .reload(try c.decode(ReloadResult.self, forKey: key))
        case .devices: self = .devices(try c.decode(DeviceList.self, forKey: key))
        case .values: self = .values(try c.decode(DeviceValues.self, forKey: key))
        case .alarms: self = .alarms(try c.decode(AlarmList.self, forKey: key))
        case .alarmHistory: self = .alarmHistory(try c.decode(AlarmHistory.self, forKey: key))
        case .alarmAction: self = .alarmAction(try c.decode(AlarmActionResult.self, forKey: key))
        case .batch: self = .batch(try c.decode(BatchState.self, forKey: key))
        case .batchList: self = .batchList(try c.decode(BatchList.self, forKey: key))
        case .batchReport: self = .batchReport(try c.decode(BatchReport.self, forKey: key))
        case .auditVerification: self = .auditVerification(try c.decode(AuditVerificationReport.self, forKey: key))
        case .auditEntries: self = .auditEntries(try c.decode(AuditEntryList.self, forKey: key))
        case .verification: self = .verification(try c.decode(VerificationReport.self, forKey: key))
        case .specs: self = .specs(try c.decode(SpecRegisterList.self, forKey: key))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .status(let r): try c.encode(r, forKey: .status)
        case .reload(let r): try c.encode(r, forKey: .reload)
        case .devices(let r): try c.encode(r, forKey: .devices)
        case .values(let r): try c.encode(r, forKey: .values)
        case .alarms(let r): try c.encode(r, forKey: .alarms)
        case .alarmHistory(let r): try c.encode(r, forKey: .alarmHistory)
        case .alarmAction(let r): try c.encode(r, forKey: .alarmAction)
        case .batch(let r): try c.encode(r, forKey: .batch)
        case .batchList(let r): try c.encode(r, forKey: .batchList)
        case .batchReport(let r): try c.encode(r, forKey: .batchReport)
        case .auditVerification(let r): try c.encode(r, forKey: .auditVerification)
        case .auditEntries(let r): try c.encode(r, forKey: .auditEntries)
        case .verification(let r): try c.encode(r, forKey: .verification)
        case .specs(let r): try c.encode(r, forKey: .specs)
        }
    }

    /// The payload alone, as the JSON `pocarectl --json` prints.
    public var payloadJSON: String {
        let encoder = JSONEncoder.control
        let data: Data?
        switch self {
        case .status(let r): data = try? encoder.encode(r)
        case .reload(let r): data = try? encoder.encode(r)
        case .devices(let r): data = try? encoder.encode(r)
        case .values(let r): data = try? encoder.encode(r)
        case .alarms(let r): data = try? encoder.encode(r)
        case .alarmHistory(let r): data = try? encoder.encode(r)
        case .alarmAction(let r): data = try? encoder.encode(r)
        case .batch(let r): data = try? encoder.encode(r)
        case .batchList(let r): data = try? encoder.encode(r)
        case .batchReport(let r): data = try? encoder.encode(r)
        case .auditVerification(let r): data = try? encoder.encode(r)
        case .auditEntries(let r): data = try? encoder.encode(r)
        case .verification(let r): data = try? encoder.encode(r)
        case .specs(let r): data = try? encoder.encode(r)
        }
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

// MARK: status

public struct StatusReport: Codable, Sendable, Hashable {
    public struct Store: Codable, Sendable, Hashable {
        public var path: String
        public var sizeBytes: Int64
        /// Free bytes on the store's file system, nil when unknown.
        public var freeBytes: Int64?
        public var pendingRows: Int
        public var committedRows: Int
        public var healthy: Bool
        /// The oldest record the Control Site does not have yet: how far behind the site is.
        public var oldestUndelivered: String?
        /// The store's identity, made when it was created.
        public var epoch: String?
        /// Set when the file was deleted or replaced under the running daemon.
        public var fileProblem: String?
        public init(
            path: String, sizeBytes: Int64, freeBytes: Int64?, pendingRows: Int, committedRows: Int, healthy: Bool, oldestUndelivered: String?,
            epoch: String? = nil, fileProblem: String? = nil
        ) {
            self.path = path
            self.sizeBytes = sizeBytes
            self.freeBytes = freeBytes
            self.pendingRows = pendingRows
            self.committedRows = committedRows
            self.healthy = healthy
            self.oldestUndelivered = oldestUndelivered
            self.epoch = epoch
            self.fileProblem = fileProblem
        }
    }

    public struct ControlSiteLink: Codable, Sendable, Hashable {
        public var connected: Bool
        public var backlog: Int64
        public var lastDelivery: String?
        public var lastError: String?
        public init(connected: Bool, backlog: Int64, lastDelivery: String?, lastError: String?) {
            self.connected = connected
            self.backlog = backlog
            self.lastDelivery = lastDelivery
            self.lastError = lastError
        }
    }

    public struct AlarmCounts: Codable, Sendable, Hashable {
        public var active: Int
        public var unacknowledged: Int
        public init(active: Int, unacknowledged: Int) {
            self.active = active
            self.unacknowledged = unacknowledged
        }
    }

    public struct Device: Codable, Sendable, Hashable {
        public var id: String
        public var profile: String
        public var connected: Bool
        /// Seconds since the last cycle that read every parameter; nil when none has.
        public var lastGoodPollS: Double?
        public var missedCycles: UInt64
        public var activeAlarms: Int
        public var batch: String?
        public var phase: String?
        public var spec: String?
        /// Set while the whole device is out of service.
        public var outOfService: OutOfServiceItem?
        /// `ok` or `lost` (the communication alarm stands), with or without a batch.
        public var communication: String?
        /// Polls in a row without a good value (missed polls included): so far, or in the loss that stands.
        public var missedPolls: Int?
        public var communicationLostSince: String?
        /// Whether the batch follows the phase the device reports.
        public var phaseFromDevice: Bool?
        /// The batch the site configuration names for the device, and what became of it.
        public var configuredBatch: ConfiguredBatchStatus?
        public init(id: String, profile: String, connected: Bool, lastGoodPollS: Double?, missedCycles: UInt64, activeAlarms: Int,
                    batch: String?, phase: String?, spec: String?, outOfService: OutOfServiceItem? = nil) {
            self.outOfService = outOfService
            self.id = id
            self.profile = profile
            self.connected = connected
            self.lastGoodPollS = lastGoodPollS
            self.missedCycles = missedCycles
            self.activeAlarms = activeAlarms
            self.batch = batch
            self.phase = phase
            self.spec = spec
        }
    }

    public var version: String
    public var site: String
    public var uptimeS: Int
    public var store: Store
    /// Fingerprints of the specs in force.
    public var specs: [String]
    /// nil when the site has no Control Site configured.
    public var controlSite: ControlSiteLink?
    public var alarms: AlarmCounts
    public var devices: [Device]
    /// Alarms and devices out of service, until returned.
    public var outOfService: [OutOfServiceItem]?
    /// The Control Site's register of released specs the site enforces; nil when none was received.
    public var specRegister: RegisterVersion?
    /// False when the site starts batches under specs the Control Site has not released (commissioning).
    public var requireSpecRelease: Bool?

    public init(version: String, site: String, uptimeS: Int, store: Store, specs: [String], controlSite: ControlSiteLink?,
                alarms: AlarmCounts, devices: [Device], outOfService: [OutOfServiceItem]? = nil) {
        self.outOfService = outOfService
        self.version = version
        self.site = site
        self.uptimeS = uptimeS
        self.store = store
        self.specs = specs
        self.controlSite = controlSite
        self.alarms = alarms
        self.devices = devices
    }
}

public struct ReloadResult: Codable, Sendable, Hashable {
    public var applied: Bool
    /// The configuration's identity as the audit trail records it.
    public var configuration: String
    public init(applied: Bool, configuration: String) {
        self.applied = applied
        self.configuration = configuration
    }
}

// MARK: devices and values

public struct DeviceList: Codable, Sendable, Hashable {
    public struct Device: Codable, Sendable, Hashable {
        public var id: String
        public var profile: String
        public var endpoint: String
        public var unitId: Int
        public var pollIntervalS: Double
        public var connected: Bool
        public var cycles: UInt64
        public var missedCycles: UInt64
        public var batch: String?
        public var phase: String?
        public init(id: String, profile: String, endpoint: String, unitId: Int, pollIntervalS: Double, connected: Bool, cycles: UInt64,
                    missedCycles: UInt64, batch: String?, phase: String?) {
            self.id = id
            self.profile = profile
            self.endpoint = endpoint
            self.unitId = unitId
            self.pollIntervalS = pollIntervalS
            self.connected = connected
            self.cycles = cycles
            self.missedCycles = missedCycles
            self.batch = batch
            self.phase = phase
        }
    }
    public var devices: [Device]
    public init(devices: [Device]) { self.devices = devices }
}

/// A parameter's value: a number, a flag or a text, as JSON number, boolean or string.
public enum ParameterValue: Codable, Sendable, Hashable {
    case number(Double)
    case flag(Bool)
    case text(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .flag(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else {
            self = .text(try c.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): try c.encode(n)
        case .flag(let b): try c.encode(b)
        case .text(let t): try c.encode(t)
        }
    }
}

public struct Limits: Codable, Sendable, Hashable {
    public var alertLow: Double?
    public var alertHigh: Double?
    public var actionLow: Double?
    public var actionHigh: Double?
    public var target: Double?
    /// For a flag with a discrete alarm: the value that raises it.
    public var alarmWhen: Bool?
    /// For a status with a discrete alarm: the labels that raise it.
    public var alarmLabels: [String]?
    public init(alertLow: Double?, alertHigh: Double?, actionLow: Double?, actionHigh: Double?, target: Double?,
                alarmWhen: Bool? = nil, alarmLabels: [String]? = nil) {
        self.alarmWhen = alarmWhen
        self.alarmLabels = alarmLabels
        self.alertLow = alertLow
        self.alertHigh = alertHigh
        self.actionLow = actionLow
        self.actionHigh = actionHigh
        self.target = target
    }
}

public struct DeviceValues: Codable, Sendable, Hashable {
    public struct Row: Codable, Sendable, Hashable {
        public var parameter: String
        public var name: String
        public var unit: String
        public var quality: String
        public var value: ParameterValue?
        /// The enumeration's label, for state parameters.
        public var label: String?
        /// The limits of the phase in force, when a batch runs and the spec limits this parameter.
        public var limits: Limits?
        public init(parameter: String, name: String, unit: String, quality: String, value: ParameterValue?, label: String?, limits: Limits?) {
            self.parameter = parameter
            self.name = name
            self.unit = unit
            self.quality = quality
            self.value = value
            self.label = label
            self.limits = limits
        }
    }
    public var device: String
    /// The last sample's time; nil before the first poll.
    public var time: String?
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var values: [Row]
    public init(device: String, time: String?, batch: String?, phase: String?, spec: String?, values: [Row]) {
        self.device = device
        self.time = time
        self.batch = batch
        self.phase = phase
        self.spec = spec
        self.values = values
    }
}

// MARK: alarms

public struct AlarmList: Codable, Sendable, Hashable {
    public struct Alarm: Codable, Sendable, Hashable {
        public var alarm: String
        public var state: String
        public var level: String
        public var side: String
        public var priority: String
        public var since: String?
        public var shelvedUntil: String?
        public var value: Double?
        /// Who acknowledged the activation that stands.
        public var acknowledgedBy: String?
        /// The condition has returned but the alarm is latched until reset.
        public var latched: Bool?
        /// Set while the alarm (or its device) is out of service.
        public var outOfService: OutOfServiceItem?
        /// For a discrete alarm on an enumerated status: the label last reported.
        public var label: String?
        /// Owed an acknowledgement, whatever the state (a latched alarm can be unacknowledged too).
        public var unacknowledged: Bool?
        public init(alarm: String, state: String, level: String, side: String, priority: String, since: String?, shelvedUntil: String?, value: Double?,
                    acknowledgedBy: String? = nil, latched: Bool? = nil, outOfService: OutOfServiceItem? = nil, label: String? = nil,
                    unacknowledged: Bool? = nil) {
            self.label = label
            self.unacknowledged = unacknowledged
            self.acknowledgedBy = acknowledgedBy
            self.latched = latched
            self.outOfService = outOfService
            self.alarm = alarm
            self.state = state
            self.level = level
            self.side = side
            self.priority = priority
            self.since = since
            self.shelvedUntil = shelvedUntil
            self.value = value
        }
    }
    /// An alarm on its way up, waiting out its on-delay.
    public struct Pending: Codable, Sendable, Hashable {
        public var alarm: String
        public var level: String
        public var priority: String
        public var since: String
        /// Seconds of on-delay left at the device's latest sample.
        public var remainingS: Double
        public var value: Double?
        public init(alarm: String, level: String, priority: String, since: String, remainingS: Double, value: Double?) {
            self.alarm = alarm
            self.level = level
            self.priority = priority
            self.since = since
            self.remainingS = remainingS
            self.value = value
        }
    }
    public var alarms: [Alarm]
    public var pending: [Pending]?
    public var outOfService: [OutOfServiceItem]?
    public init(alarms: [Alarm], pending: [Pending]? = nil, outOfService: [OutOfServiceItem]? = nil) {
        self.alarms = alarms
        self.pending = pending
        self.outOfService = outOfService
    }
}

/// An alarm or a device out of service: by whom, why, since when.
public struct OutOfServiceItem: Codable, Sendable, Hashable {
    /// An alarm id, or a device id for all of its alarms.
    public var target: String
    public var user: String
    public var reason: String
    public var since: String
    public init(target: String, user: String, reason: String, since: String) {
        self.target = target
        self.user = user
        self.reason = reason
        self.since = since
    }
}

public struct AlarmHistory: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var time: String
        public var device: String
        public var kind: String
        public var alarm: String
        public var level: String?
        public var value: Double?
        public var limit: Double?
        public var user: String?
        public var reason: String?
        public init(time: String, device: String, kind: String, alarm: String, level: String?, value: Double?, limit: Double?, user: String?, reason: String?) {
            self.time = time
            self.device = device
            self.kind = kind
            self.alarm = alarm
            self.level = level
            self.value = value
            self.limit = limit
            self.user = user
            self.reason = reason
        }
    }
    public var history: [Entry]
    public init(history: [Entry]) { self.history = history }
}

public struct AlarmActionResult: Codable, Sendable, Hashable {
    public var alarm: String
    /// The alarm's state after the action.
    public var state: String
    /// Who did it, from the socket's peer credentials.
    public var user: String
    /// What else happened to the action's effect at once (an acknowledged alarm that had cleared).
    public var note: String?
    public init(alarm: String, state: String, user: String, note: String? = nil) {
        self.alarm = alarm
        self.state = state
        self.user = user
        self.note = note
    }
}

// MARK: batches

/// A device's batch after a batch command.
public struct BatchState: Codable, Sendable, Hashable {
    public var device: String
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var user: String
    /// What the command undid of earlier actions, or what it means for them (shelves the end of
    /// a batch lifted, a spec started without release).
    public var notes: [String]?
    public init(device: String, batch: String?, phase: String?, spec: String?, user: String, notes: [String]? = nil) {
        self.device = device
        self.batch = batch
        self.phase = phase
        self.spec = spec
        self.user = user
        self.notes = notes
    }
}

public struct BatchList: Codable, Sendable, Hashable {
    public struct Batch: Codable, Sendable, Hashable {
        public var device: String
        public var batch: String
        public var spec: String
        public var started: String
        public var ended: String?
        public init(device: String, batch: String, spec: String, started: String, ended: String?) {
            self.device = device
            self.batch = batch
            self.spec = spec
            self.started = started
            self.ended = ended
        }
    }
    public var batches: [Batch]
    public init(batches: [Batch]) { self.batches = batches }
}

/// The batch IPC record for QP review.

// MARK: audit

/// Every stream's hash chain walked, and SQLite's check of the file.
public struct VerificationReport: Codable, Sendable, Hashable {
    public struct Stream: Codable, Sendable, Hashable {
        public var stream: String
        public var records: Int
        /// The last pruned record, where the walk started.
        public var anchorSeq: Int64
        public var problems: [String]
        public init(stream: String, records: Int, anchorSeq: Int64, problems: [String]) {
            self.stream = stream
            self.records = records
            self.anchorSeq = anchorSeq
            self.problems = problems
        }
    }
    public var intact: Bool
    public var streams: [Stream]
    public var integrityCheck: String
    public init(intact: Bool, streams: [Stream], integrityCheck: String) {
        self.intact = intact
        self.streams = streams
        self.integrityCheck = integrityCheck
    }
}

public struct AuditVerificationReport: Codable, Sendable, Hashable {
    public var intact: Bool
    public var entries: Int
    public var lastHash: String
    /// The first entry changed, removed or inserted, and any further problems.
    public var problems: [String]
    /// SQLite's `PRAGMA integrity_check`: `ok` or what is wrong with the file.
    public var integrityCheck: String
    public init(intact: Bool, entries: Int, lastHash: String, problems: [String], integrityCheck: String) {
        self.intact = intact
        self.entries = entries
        self.lastHash = lastHash
        self.problems = problems
        self.integrityCheck = integrityCheck
    }
}

public struct AuditEntryList: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var seq: Int64
        public var time: String
        public var user: String
        public var action: String
        public var target: String
        public var reason: String?
        public var oldValue: String?
        public var newValue: String?
        public var hash: String
        public var previousHash: String
        public init(seq: Int64, time: String, user: String, action: String, target: String, reason: String?, oldValue: String?,
                    newValue: String?, hash: String, previousHash: String) {
            self.seq = seq
            self.time = time
            self.user = user
            self.action = action
            self.target = target
            self.reason = reason
            self.oldValue = oldValue
            self.newValue = newValue
            self.hash = hash
            self.previousHash = previousHash
        }
    }
    public var entries: [Entry]
    public init(entries: [Entry]) { self.entries = entries }
}
