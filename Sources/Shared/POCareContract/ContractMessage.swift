import POCareCore

/// One MQTT message of contract v1 as ingest sees it: a site's status, or records of one
/// stream with their sequence numbers. Pure: no I/O, so every rule here has a unit test.
public enum ContractMessage: Sendable {
    case status(SiteStatusMessage)
    case records(RecordMessage)
    /// A device's retained metadata (names, units, types, labels); `payload` nil when the site cleared it.
    case deviceMetadata(DeviceMetadataMessage)
    /// A spec the site publishes under its fingerprint, with the canonical form to recompute it.
    case specDocument(SpecDocumentMessage)

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Not under the topic root, or a topic the contract does not define.
        case unknownTopic(String)
        case malformed(site: String?, topic: String, reason: String)
        public var description: String {
            switch self {
            case .unknownTopic(let topic): "\(topic): not a topic of the contract"
            case .malformed(_, let topic, let reason): "\(topic): \(reason)"
            }
        }
    }

    /// Reads one message. `root` is the contract's topic root, `pocare/v1` by default. A
    /// message beyond the contract's `limits` (its size, samples per message, values per sample,
    /// a number no double holds, values that are not an object of plain values) is malformed:
    /// a site never sends one. `site` in a failure is only the site the topic claims.
    public static func parse(
        topic: String, payload: [UInt8], root: String = "pocare/v1", limits: ContractLimits = .standard
    ) throws(Failure) -> ContractMessage {
        guard topic.hasPrefix(root + "/") else { throw .unknownTopic(topic) }
        let levels = topic.dropFirst(root.count + 1).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let topicSite = levels.first, !topicSite.isEmpty else { throw .unknownTopic(topic) }
        let at = Address(topic: topic, levels: levels, site: topicSite)
        let kind: ContractLimits.MessageKind = levels.count == 3 && levels[2] == "telemetry" ? .telemetry
            : levels.count == 3 && levels[2] == "events" ? .event : .other
        guard payload.count <= limits.bytes(for: kind) else {
            throw at.malformed("the message is \(payload.count) bytes; the contract allows \(limits.bytes(for: kind))")
        }
        if !payload.isEmpty {
            do { try StrictJSON.check(payload[...], depth: limits.depth) } catch { throw at.malformed("not the contract's JSON: \(error)") }
        }
        // Retained metadata is cleared with an empty message when the site no longer has the device.
        if levels.count == 3, levels[2] == "meta" { return try deviceMetadata(payload, at) }

        let fields: JSONFields
        // Telemetry's samples have their members found while the envelope is read past them.
        var walkedSamples: [SampleMembers.Walked?] = []
        do {
            if kind == .telemetry {
                fields = try JSONFields(payload[...], walkingElementsOf: "samples") { index, bytes, start in
                    // A key given twice counts as its last: its elements start the list again.
                    if index == 0 { walkedSamples.removeAll(keepingCapacity: true) }
                    let walked = SampleMembers.walk(bytes, from: start)
                    walkedSamples.append(walked)
                    return walked?.end
                }
            } else {
                fields = try JSONFields(payload)
            }
        } catch {
            throw at.malformed("\(error)")
        }
        if let site = fields.string("site"), site != topicSite {
            throw at.malformed("payload names site '\(site)' on another site's topic")
        }
        // `specs/{hex}`; a device named "specs" keeps its telemetry and events topics.
        if levels.count == 3, levels[1] == "specs", levels[2] != "telemetry", levels[2] != "events" {
            return try specDocument(fields, payload, at)
        }
        switch (levels.count, levels.last) {
        case (2, "status"): return try status(fields, payload, at)
        case (2, "audit"): return try auditEntry(fields, payload, at)
        case (3, "events"): return try event(fields, payload, at)
        case (3, "telemetry"): return try telemetry(fields, payload, at, limits: limits, walked: walkedSamples)
        default: throw .unknownTopic(topic)
        }
    }
}

/// What kind of record a stream carries, and so which table holds it.
public enum RecordKind: String, Sendable, CaseIterable {
    case sample, event, audit
}

/// Consecutive records of one stream: `records[i]` has sequence number `seqFirst + i`.
public struct RecordMessage: Sendable {
    public var site: String
    /// The site store's epoch; "" for contract v1, which does not state it.
    public var epoch: String
    public var stream: String
    public var device: String?
    public var kind: RecordKind
    public var seqFirst: Int64
    public var seqLast: Int64
    /// Each record as the site sent it (a telemetry sample object, or a whole event or audit message).
    public var records: [ArraySlice<UInt8>]
    /// Whether the records carry `hash` and `previous_hash`, so the chain can be checked.
    public var carriesChain: Bool
    /// For telemetry, each sample's fields, read once here rather than by the database.
    public var samples: [SampleFields] = []
    /// The whole message as it came (the records above are slices of it): what a consumer keeps of a message it holds aside.
    public var payload: [UInt8] = []
}

/// The fields of one telemetry sample. `values` and `quality` stay the bytes the site sent.
/// Fields a later contract version adds (a record hash) are optional.
///
/// A value with its fields in one shared box: ingest passes every sample through several loops
/// (proof, chain, rows, rollups), and copying a dozen strings and slices at each step cost more
/// reference counting than the steps' own work. A copy is one reference; a change copies the box
/// first when it is shared, so it stays a value.
public struct SampleFields: Sendable {
    private final class Storage: @unchecked Sendable {
        // Written only through `SampleFields`' setters, on a box no other value holds.
        var seq: Int64
        var time: String
        var timeNanoseconds: Int64?
        var cycle: Int64?
        var batch: String?
        var phase: String?
        var spec: String?
        var values: ArraySlice<UInt8>
        var quality: ArraySlice<UInt8>?
        var raw: ArraySlice<UInt8>?
        var hash: String?
        var previousHash: String?
        var parameters: [String]
        var nullHash: Bool
        var readValues: [Value?]?

        init(
            seq: Int64, time: String, timeNanoseconds: Int64?, cycle: Int64?, batch: String?, phase: String?, spec: String?,
            values: ArraySlice<UInt8>, quality: ArraySlice<UInt8>?, raw: ArraySlice<UInt8>?, hash: String?, previousHash: String?,
            parameters: [String], nullHash: Bool
        ) {
            self.seq = seq
            self.time = time
            self.timeNanoseconds = timeNanoseconds
            self.cycle = cycle
            self.batch = batch
            self.phase = phase
            self.spec = spec
            self.values = values
            self.quality = quality
            self.raw = raw
            self.hash = hash
            self.previousHash = previousHash
            self.parameters = parameters
            self.nullHash = nullHash
            self.readValues = nil
        }

        func copy() -> Storage {
            let copied = Storage(
                seq: seq, time: time, timeNanoseconds: timeNanoseconds, cycle: cycle, batch: batch, phase: phase, spec: spec,
                values: values, quality: quality, raw: raw, hash: hash, previousHash: previousHash, parameters: parameters,
                nullHash: nullHash)
            copied.readValues = readValues
            return copied
        }
    }

    private var storage: Storage

    public init(
        seq: Int64, time: String, timeNanoseconds: Int64?, cycle: Int64?, batch: String?, phase: String?, spec: String?,
        values: ArraySlice<UInt8>, quality: ArraySlice<UInt8>?, raw: ArraySlice<UInt8>?, hash: String?, previousHash: String?,
        parameters: [String] = [], nullHash: Bool = false
    ) {
        storage = Storage(
            seq: seq, time: time, timeNanoseconds: timeNanoseconds, cycle: cycle, batch: batch, phase: phase, spec: spec,
            values: values, quality: quality, raw: raw, hash: hash, previousHash: previousHash, parameters: parameters,
            nullHash: nullHash)
    }

    /// The box, copied first when another value shares it.
    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    public var seq: Int64 {
        get { storage.seq }
        set { unique().seq = newValue }
    }
    public var time: String {
        get { storage.time }
        set { unique().time = newValue }
    }
    /// The time in nanoseconds as the site stored and hashed it; nil from a site that predates it.
    public var timeNanoseconds: Int64? {
        get { storage.timeNanoseconds }
        set { unique().timeNanoseconds = newValue }
    }
    public var cycle: Int64? {
        get { storage.cycle }
        set { unique().cycle = newValue }
    }
    public var batch: String? {
        get { storage.batch }
        set { unique().batch = newValue }
    }
    public var phase: String? {
        get { storage.phase }
        set { unique().phase = newValue }
    }
    public var spec: String? {
        get { storage.spec }
        set { unique().spec = newValue }
    }
    /// Setting it forgets `readValues`, which were read from the bytes before.
    public var values: ArraySlice<UInt8> {
        get { storage.values }
        set {
            let storage = unique()
            storage.values = newValue
            storage.readValues = nil
        }
    }
    public var quality: ArraySlice<UInt8>? {
        get { storage.quality }
        set { unique().quality = newValue }
    }
    /// The numbers behind labels and non-finite values (`raw`), as sent.
    public var raw: ArraySlice<UInt8>? {
        get { storage.raw }
        set { unique().raw = newValue }
    }
    public var hash: String? {
        get { storage.hash }
        set { unique().hash = newValue }
    }
    public var previousHash: String? {
        get { storage.previousHash }
        set { unique().previousHash = newValue }
    }
    /// The keys of `values`, in the order sent (each one parameter of the device). Setting them
    /// forgets `readValues`, which stood beside the keys before.
    public var parameters: [String] {
        get { storage.parameters }
        set {
            let storage = unique()
            storage.parameters = newValue
            storage.readValues = nil
        }
    }
    /// Each value of `values` as the message's reader read it, beside its key in `parameters`
    /// (nil for JSON's null): the hash and the rollups take them from here rather than reading
    /// the bytes again. Nil where the sample was not read so (a record from the database) or a
    /// value is not a plain one; then the bytes are read.
    public internal(set) var readValues: [Value?]? {
        get { storage.readValues }
        set { unique().readValues = newValue }
    }
    /// The sample names `hash: null`.
    public var nullHash: Bool {
        get { storage.nullHash }
        set { unique().nullHash = newValue }
    }
}

/// A device's retained metadata as the site published it.
public struct DeviceMetadataMessage: Sendable {
    public var site: String
    public var device: String
    /// The fingerprint the message names, and the one its bytes hash to; equal when intact.
    public var fingerprint: String?
    public var computed: String?
    public var payload: [UInt8]?
    public var verified: Bool { fingerprint != nil && fingerprint == computed }
}

/// A spec as a site published it under `specs/{hex}`.
public struct SpecDocumentMessage: Sendable {
    public var site: String
    /// From the topic: the fingerprint the site files the spec under.
    public var fingerprint: String
    /// The fingerprint the payload names, and the SHA-256 of its canonical form.
    public var named: String?
    public var computed: String
    public var payload: [UInt8]
    public var verified: Bool { computed == fingerprint && (named == nil || named == fingerprint) }
}

/// A site's retained birth or its last will.
public struct SiteStatusMessage: Sendable {
    public var site: String
    public var state: String
    public var version: String?
    public var epoch: String?
    public var time: String?
    public var payload: [UInt8]
}

extension ContractMessage {
    /// A number a site store can have assigned: stores count from 1, and 2^62 is centuries of
    /// records away. Anything else comes from a broken or hostile sender, and taking it would
    /// overflow the range arithmetic of gap tracking.
    public static func isSiteSequence(_ seq: Int64) -> Bool { seq >= 1 && seq < 1 << 62 }
}
