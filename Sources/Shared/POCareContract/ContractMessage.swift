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
        func malformed(_ reason: String) -> Failure { .malformed(site: topicSite, topic: topic, reason: reason) }
        let kind: ContractLimits.MessageKind = levels.count == 3 && levels[2] == "telemetry" ? .telemetry
            : levels.count == 3 && levels[2] == "events" ? .event : .other
        guard payload.count <= limits.bytes(for: kind) else {
            throw malformed("the message is \(payload.count) bytes; the contract allows \(limits.bytes(for: kind))")
        }
        if !payload.isEmpty {
            do { try StrictJSON.check(payload[...], depth: limits.depth) } catch { throw malformed("not the contract's JSON: \(error)") }
        }

        // Retained metadata is cleared with an empty message when the site no longer has the device.
        if levels.count == 3, levels[2] == "meta" {
            guard !payload.isEmpty else {
                return .deviceMetadata(DeviceMetadataMessage(site: topicSite, device: levels[1], fingerprint: nil, computed: nil, payload: nil))
            }
            guard let check = Contract.checkMetadata(payload) else {
                throw malformed("device metadata must begin with its fingerprint field")
            }
            do { _ = try JSONFields(payload) } catch { throw malformed("\(error)") }
            return .deviceMetadata(DeviceMetadataMessage(
                site: topicSite, device: levels[1], fingerprint: check.named, computed: check.computed, payload: payload))
        }

        let fields: JSONFields
        do { fields = try JSONFields(payload) } catch { throw malformed("\(error)") }
        if let site = fields.string("site"), site != topicSite {
            throw malformed("payload names site '\(site)' on another site's topic")
        }
        let schema = fields.string("schema") ?? ""
        // A later contract version states the store epoch; v1 records have none ("").
        let epoch = fields.string("epoch") ?? ""

        // `specs/{hex}`; a device named "specs" keeps its telemetry and events topics.
        if levels.count == 3, levels[1] == "specs", levels[2] != "telemetry", levels[2] != "events" {
            let hex = levels[2]
            guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw malformed("a spec topic ends in the 64 hex digits of its fingerprint")
            }
            guard schema == "pocare/v1/spec", let canonical = fields.string("canonical") else {
                throw malformed("a spec needs schema pocare/v1/spec and its canonical form")
            }
            return .specDocument(SpecDocumentMessage(
                site: topicSite, fingerprint: "sha256:" + hex, named: fields.string("fingerprint"),
                computed: Contract.specFingerprint(canonical: canonical), payload: payload))
        }

        switch (levels.count, levels.last) {
        case (2, "status"):
            guard schema == "pocare/v1/status", let state = fields.string("state") else {
                throw malformed("a status needs schema pocare/v1/status and a state")
            }
            return .status(SiteStatusMessage(
                site: topicSite, state: state, version: fields.string("version"), epoch: fields.string("epoch"),
                time: fields.string("time"), payload: payload))
        case (2, "audit"):
            guard schema == "pocare/v1/audit", let seq = fields.int("seq"), Self.isSiteSequence(seq) else {
                throw malformed("an audit entry needs schema pocare/v1/audit and a seq")
            }
            return .records(RecordMessage(
                site: topicSite, epoch: epoch, stream: fields.string("stream") ?? "audit", device: nil, kind: .audit,
                seqFirst: seq, seqLast: seq, records: [payload[...]], carriesChain: fields.has("hash")))
        case (3, "events"):
            guard schema == "pocare/v1/event", let seq = fields.int("seq"), Self.isSiteSequence(seq), let stream = fields.string("stream") else {
                throw malformed("an event needs schema pocare/v1/event, a stream and a seq")
            }
            guard stream == "\(levels[1])/events" else { throw malformed("stream '\(stream)' on the events topic of '\(levels[1])'") }
            guard fields.raw("event").map({ $0.first == 0x7B }) ?? true else { throw malformed("event: expected an object") }
            try SampleChecks.time(fields.string("time"), malformed)
            return .records(RecordMessage(
                site: topicSite, epoch: epoch, stream: stream, device: fields.string("device") ?? levels[1], kind: .event,
                seqFirst: seq, seqLast: seq, records: [payload[...]], carriesChain: fields.has("hash")))
        case (3, "telemetry"):
            guard schema == "pocare/v1/telemetry", let stream = fields.string("stream"),
                let first = fields.int("seq_first"), let last = fields.int("seq_last"), first <= last,
                Self.isSiteSequence(first), Self.isSiteSequence(last)
            else {
                throw malformed("telemetry needs schema pocare/v1/telemetry, a stream and seq_first <= seq_last")
            }
            guard stream == "\(levels[1])/telemetry", (fields.string("device") ?? levels[1]) == levels[1] else {
                throw malformed("stream '\(stream)' of device '\(fields.string("device") ?? "-")' on the telemetry topic of '\(levels[1])'")
            }
            guard last - first < Int64(limits.samplesPerMessage) else {
                throw malformed("\(last - first + 1) samples in one message; the contract allows \(limits.samplesPerMessage)")
            }
            let samples: [ArraySlice<UInt8>]
            do {
                guard let elements = try fields.arrayElements("samples") else { throw malformed("telemetry without samples") }
                samples = elements
            } catch let failure as Failure {
                throw failure
            } catch {
                throw malformed("samples: \(error)")
            }
            // Samples are consecutive: anything else is not what the site committed.
            guard Int64(samples.count) == last - first + 1 else {
                throw malformed("seq_first...seq_last is \(last - first + 1) numbers but \(samples.count) samples came")
            }
            var fieldsOfSamples: [SampleFields] = []
            fieldsOfSamples.reserveCapacity(samples.count)
            // The message names the hash before its first sample; within it the samples are
            // consecutive, so each one's previous hash is the one before it.
            var previousHash = fields.string("previous_hash")
            for (offset, raw) in samples.enumerated() {
                let sample: JSONFields
                do { sample = try JSONFields(raw) } catch { throw malformed("sample \(offset + 1): \(error)") }
                guard let seq = sample.int("seq"), seq == first + Int64(offset), let time = sample.string("time") else {
                    throw malformed("sample \(offset + 1): needs seq \(first + Int64(offset)) and a time")
                }
                func inSample(_ reason: String) -> Failure { malformed("sample \(offset + 1): \(reason)") }
                try SampleChecks.time(time, inSample)
                let parameters = try SampleChecks.values(sample.raw("values"), limit: limits.parametersPerSample, inSample)
                try SampleChecks.quality(sample.raw("quality"), inSample)
                var sampleFields = SampleFields(
                    seq: seq, time: time, timeNanoseconds: sample.int("time_ns"), cycle: sample.int("cycle"), batch: sample.string("batch"), phase: sample.string("phase"),
                    spec: sample.string("spec"), values: sample.raw("values") ?? Array("{}".utf8)[...],
                    quality: sample.raw("quality").flatMap { $0.elementsEqual("null".utf8) ? nil : $0 },
                    raw: sample.raw("raw").flatMap { $0.elementsEqual("null".utf8) ? nil : $0 },
                    hash: sample.string("hash"), previousHash: sample.string("previous_hash") ?? previousHash)
                sampleFields.parameters = parameters
                // A null hash is a hash the sample does not have: on a stream that carries hashes, a break (the writer decides).
                sampleFields.nullHash = sample.raw("hash").map { $0.elementsEqual("null".utf8) } ?? false
                fieldsOfSamples.append(sampleFields)
                previousHash = sample.string("hash")
            }
            let chained = fieldsOfSamples.contains { $0.hash != nil || $0.previousHash != nil }
            return .records(RecordMessage(
                site: topicSite, epoch: epoch, stream: stream, device: fields.string("device") ?? levels[1],
                kind: .sample, seqFirst: first, seqLast: last, records: samples, carriesChain: chained, samples: fieldsOfSamples,
                payload: payload))
        default:
            throw .unknownTopic(topic)
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
public struct SampleFields: Sendable {
    public var seq: Int64
    public var time: String
    /// The time in nanoseconds as the site stored and hashed it; nil from a site that predates it.
    public var timeNanoseconds: Int64?
    public var cycle: Int64?
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var values: ArraySlice<UInt8>
    public var quality: ArraySlice<UInt8>?
    /// The numbers behind labels and non-finite values (`raw`), as sent.
    public var raw: ArraySlice<UInt8>?
    public var hash: String?
    public var previousHash: String?
    /// The keys of `values`, in the order sent (each one parameter of the device).
    public var parameters: [String] = []
    /// The sample names `hash: null`.
    public var nullHash = false
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
