import Foundation
import POCareCore

// The records the contract carries, as values: the site maps its stored rows to these, the
// encoders in `Contract` write them, and a consumer reads the same fields back.

/// One telemetry sample.
public struct PublishedSample: Sendable, Hashable {
    public var seq: Int64
    public var time: Date
    /// The time as the store holds it, in nanoseconds: what the hash covers (nil: not sent).
    public var timeNanoseconds: Int64?
    public var cycle: Int64
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var readings: [Reading]
    /// The enumeration labels the sample was taken under; nil: those given to the encoder.
    public var labels: Contract.Labels?
    /// The sample's place in its stream's hash chain; nil for records from before the chain.
    public var hash: String?
    public var previousHash: String?

    public init(
        seq: Int64, time: Date, cycle: Int64, batch: String? = nil, phase: String? = nil, spec: String? = nil,
        readings: [Reading], labels: Contract.Labels? = nil, hash: String? = nil, previousHash: String? = nil,
        timeNanoseconds: Int64? = nil
    ) {
        self.timeNanoseconds = timeNanoseconds
        self.seq = seq
        self.time = time
        self.cycle = cycle
        self.batch = batch
        self.phase = phase
        self.spec = spec
        self.readings = readings
        self.labels = labels
        self.hash = hash
        self.previousHash = previousHash
    }
}

/// One event of a device's or the site's event stream; `body` is the event as the site recorded it (JSON).
public struct PublishedEvent: Sendable, Hashable {
    public var seq: Int64
    public var stream: StreamName
    public var device: String
    public var time: Date
    /// The time as the store holds it, in nanoseconds: what the hash covers (nil: not sent).
    public var timeNanoseconds: Int64?
    public var kind: String
    /// The alarm the event belongs to, if any.
    public var alarm: String?
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var body: String
    public var hash: String?
    public var previousHash: String?

    public init(
        seq: Int64, stream: StreamName, device: String, time: Date, kind: String, batch: String? = nil, phase: String? = nil,
        spec: String? = nil, body: String, hash: String? = nil, previousHash: String? = nil, timeNanoseconds: Int64? = nil,
        alarm: String? = nil
    ) {
        self.timeNanoseconds = timeNanoseconds
        self.alarm = alarm
        self.seq = seq
        self.stream = stream
        self.device = device
        self.time = time
        self.kind = kind
        self.batch = batch
        self.phase = phase
        self.spec = spec
        self.body = body
        self.hash = hash
        self.previousHash = previousHash
    }
}

/// One entry of the site's audit trail, with both ends of its link in the audit chain.
public struct PublishedAuditEntry: Sendable, Hashable {
    public var seq: Int64
    public var time: Date
    public var timeNanoseconds: Int64
    public var user: String
    public var action: String
    public var target: String
    public var reason: String?
    public var oldValue: String?
    public var newValue: String?
    public var previousHash: String
    public var hash: String

    public init(
        seq: Int64, time: Date, timeNanoseconds: Int64, user: String, action: String, target: String, reason: String? = nil,
        oldValue: String? = nil, newValue: String? = nil, previousHash: String, hash: String
    ) {
        self.seq = seq
        self.time = time
        self.timeNanoseconds = timeNanoseconds
        self.user = user
        self.action = action
        self.target = target
        self.reason = reason
        self.oldValue = oldValue
        self.newValue = newValue
        self.previousHash = previousHash
        self.hash = hash
    }
}
