import Foundation
import POCareContract
import POCareCore

extension StreamName {
    /// The table that holds the stream's records.
    public var table: String {
        switch self {
        case .telemetry: "samples"
        case .events, .siteEvents: "events"
        case .audit: "audit"
        }
    }
}

/// What a sample was taken under, recorded with it.
public struct SampleContext: Sendable, Hashable {
    public var batchId: String?
    public var phase: String?
    public var specFingerprint: String?

    public init(batchId: String? = nil, phase: String? = nil, specFingerprint: String? = nil) {
        self.batchId = batchId
        self.phase = phase
        self.specFingerprint = specFingerprint
    }
}

/// An event ready for the store: who it is about, when, and its JSON body.
public struct EventRecord: Sendable, Hashable {
    public var stream: StreamName
    public var device: String
    public var time: Date
    public var kind: String
    public var alarm: String?
    public var batchId: String?
    public var phase: String?
    public var specFingerprint: String?
    /// The event as JSON; what the Control Site receives.
    public var body: String
    /// What the event changes in the store's running batches and shelves, written with it.
    public var stateChange: BatchStateChange?

    public init(stream: StreamName, device: String, time: Date, kind: String, alarm: String? = nil, batchId: String? = nil,
                phase: String? = nil, specFingerprint: String? = nil, body: String, stateChange: BatchStateChange? = nil) {
        self.stateChange = stateChange
        self.stream = stream
        self.device = device
        self.time = time
        self.kind = kind
        self.alarm = alarm
        self.batchId = batchId
        self.phase = phase
        self.specFingerprint = specFingerprint
        self.body = body
    }
}

/// A range of sequence numbers one commit made durable on one stream.
public struct CommittedRange: Sendable, Hashable, CustomStringConvertible {
    public var stream: String
    public var first: Int64
    public var last: Int64
    public init(stream: String, first: Int64, last: Int64) {
        self.stream = stream
        self.first = first
        self.last = last
    }
    public var description: String { "\(stream) \(first)...\(last)" }
}

/// A sample read back from the store.
public struct StoredSample: Sendable {
    public var stream: StreamName
    public var seq: Int64
    public var device: String
    public var time: Date
    public var cycle: Int64
    public var context: SampleContext
    public var readings: [Reading]
    /// The record's place in its stream's hash chain (`RecordChain`); nil for records from before the chain.
    public var hash: String?
    /// The hash of the record before it in the stream (the genesis hash for the first record);
    /// nil where the store cannot say (a record from before the chain).
    public var previousHash: String?
    /// The time exactly as stored (and hashed); `time` is it as a `Date`, which rounds.
    public var timeNanoseconds: Int64? = nil
    /// The enumeration labels the sample was taken under; nil for samples stored without them.
    public var labels: SampleLabels?

    public init(
        stream: StreamName, seq: Int64, device: String, time: Date, cycle: Int64, context: SampleContext, readings: [Reading],
        hash: String? = nil, previousHash: String? = nil, labels: SampleLabels? = nil
    ) {
        self.labels = labels
        self.hash = hash
        self.previousHash = previousHash
        self.stream = stream
        self.seq = seq
        self.device = device
        self.time = time
        self.cycle = cycle
        self.context = context
        self.readings = readings
    }
}

/// An event read back from the store.
public struct StoredEvent: Sendable {
    public var stream: StreamName
    public var seq: Int64
    public var device: String
    public var time: Date
    public var kind: String
    public var alarm: String?
    public var batchId: String?
    public var phase: String?
    public var specFingerprint: String?
    public var body: String
    /// The record's place in its stream's hash chain (`RecordChain`); nil for records from before the chain.
    public var hash: String? = nil
    /// The hash of the record before it in the stream; nil where the store cannot say.
    public var previousHash: String? = nil
    /// The time exactly as stored (and hashed); `time` is it as a `Date`, which rounds.
    public var timeNanoseconds: Int64? = nil
}

/// Delivery state of one stream.
public struct StreamState: Sendable, Hashable {
    public var stream: StreamName
    public var lastSeq: Int64
    public var deliveredSeq: Int64
}

extension Date {
    /// Whole nanoseconds, held within Int64's range: a date an operator types (`--since 9999-12-31`)
    /// or a corrupt field must not trap the conversion. Int64 nanoseconds reach from 1677 to 2262.
    var nanosecondsSince1970: Int64 {
        let ns = (timeIntervalSince1970 * 1e9).rounded()
        guard ns.isFinite else { return 0 }
        return ns >= 9.2e18 ? 9_200_000_000_000_000_000 : ns <= -9.2e18 ? -9_200_000_000_000_000_000 : Int64(ns)
    }
    init(nanosecondsSince1970 ns: Int64) { self.init(timeIntervalSince1970: Double(ns) / 1e9) }
}
