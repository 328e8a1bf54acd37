import POCareCore

/// Recomputes a record's chain hash from what the contract carries (docs/mqtt.md "Recomputing
/// a record's hash"): the Control Site does it for every record it ingests, `pocare-control
/// verify` again from what the database kept, and `pocarectl verify --export` from an exported
/// batch. The canonical bytes are `RecordChain`'s and `AuditRecordHash`'s, the ones the site's
/// store hashed when it committed the record.
public enum WireRecordHash {
    /// What recomputing a record's hash found.
    public enum Verdict: Sendable, Equatable {
        /// The record hashes to the hash it carries.
        case verified
        /// It does not: the record was changed after the site committed it.
        case mismatch(computed: String, claimed: String)
        /// The record lacks what the canonical form needs (a message of a site that predates
        /// `time_ns`, or a record from before the chain): its hash cannot be recomputed.
        case notRecomputable(String)
        /// The record carries no hash at all (from before the chain): nothing to recompute.
        case unchained
    }

    /// A telemetry sample. `stream` and `device` are the message's; `sample` is the sample's fields.
    public static func sample(stream: String, device: String, sample: SampleFields) -> Verdict {
        var hasher = RecordChain.Hasher()
        return Self.sample(stream: stream, device: device, sample: sample, using: &hasher)
    }

    /// As above, writing the canonical form into `hasher`'s buffer: ingest proves every sample,
    /// and a buffer made and freed for each was a cost of its own.
    public static func sample(stream: String, device: String, sample: SampleFields, using hasher: inout RecordChain.Hasher) -> Verdict {
        guard let claimed = sample.hash else { return .unchained }
        guard let previous = sample.previousHash else { return .notRecomputable("the sample names no previous hash") }
        guard let timeNanoseconds = sample.timeNanoseconds else { return .notRecomputable("the sample carries no time_ns") }
        guard let cycle = sample.cycle else { return .notRecomputable("the sample carries no cycle") }
        // Each field read once: every read of a field counts a reference, for every sample ingested.
        let parameters = sample.parameters, quality = sample.quality, raw = sample.raw
        let readings: (parameters: [String], bytes: [UInt8])
        do {
            if let read = sample.readValues, read.count == parameters.count {
                readings = (parameters, try packedReadings(read, of: parameters, quality: quality, raw: raw))
            } else {
                readings = try readingsOf(values: sample.values, quality: quality, raw: raw, knownParameters: parameters)
            }
        } catch {
            return .notRecomputable(error.description)
        }
        let computed = hasher.sample(
            previous: previous, stream: stream, seq: sample.seq, device: device, timeNanoseconds: timeNanoseconds, cycle: cycle,
            batch: sample.batch, phase: sample.phase, spec: sample.spec, parameterIds: readings.parameters, readings: readings.bytes)
        return computed == claimed ? .verified : .mismatch(computed: computed, claimed: claimed)
    }

    /// An event message, whole.
    public static func event(_ message: JSONFields) -> Verdict {
        guard let claimed = message.string("hash") else { return .unchained }
        guard let previous = message.string("previous_hash") else { return .notRecomputable("the event names no previous hash") }
        guard let timeNanoseconds = message.int("time_ns") else { return .notRecomputable("the event carries no time_ns") }
        guard let seq = message.int("seq"), let stream = message.string("stream"), let device = message.string("device"),
            let kind = message.string("kind")
        else { return .notRecomputable("the event lacks seq, stream, device or kind") }
        guard let body = message.raw("event") else { return .notRecomputable("the event carries no event body") }
        var hasher = RecordChain.Hasher()
        let computed = hasher.event(
            previous: previous, stream: stream, seq: seq, device: device, timeNanoseconds: timeNanoseconds, kind: kind,
            alarm: message.string("alarm"), batch: message.string("batch"), phase: message.string("phase"),
            spec: message.string("spec"), body: RecordChain.eventBody(wire: body))
        return computed == claimed ? .verified : .mismatch(computed: computed, claimed: claimed)
    }

    /// An audit message, whole.
    public static func audit(_ message: JSONFields) -> Verdict {
        guard let claimed = message.string("hash") else { return .unchained }
        guard let previous = message.string("previous_hash") else { return .notRecomputable("the audit entry names no previous hash") }
        guard let seq = message.int("seq"), let timeNanoseconds = message.int("time_ns") else {
            return .notRecomputable("the audit entry carries no seq or time_ns")
        }
        guard let user = message.string("user"), let action = message.string("action"), let target = message.string("target") else {
            return .notRecomputable("the audit entry lacks user, action or target")
        }
        let computed = AuditRecordHash.hash(
            seq: seq, timeNanoseconds: timeNanoseconds, user: user, action: action, target: target,
            reason: message.string("reason"), oldValue: message.string("old_value"), newValue: message.string("new_value"),
            previousHash: previous)
        return computed == claimed ? .verified : .mismatch(computed: computed, claimed: claimed)
    }

    public struct ReadingsError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The packed readings of values the message's reader read already (`SampleFields.readValues`,
    /// beside their keys `parameters`): what `readingsOf` makes of the same sample's bytes.
    static func packedReadings(
        _ read: [Value?], of parameters: [String], quality: ArraySlice<UInt8>?, raw: ArraySlice<UInt8>?
    ) throws(ReadingsError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(read.count * 9)
        guard quality != nil || raw != nil else {
            for value in read { SampleCodec.append(value, quality: .good, to: &bytes) }
            return bytes
        }
        let annotations = try Annotations(quality: quality, raw: raw)
        for (id, value) in zip(parameters, read) {
            try annotations.append(id, value: { () throws(ReadingsError) in value }, to: &bytes)
        }
        return bytes
    }

    /// A sample's `quality` and `raw` objects, read once for all its readings.
    private struct Annotations {
        let qualities: JSONFields?, raws: JSONFields?

        init(quality: ArraySlice<UInt8>?, raw: ArraySlice<UInt8>?) throws(ReadingsError) {
            do {
                qualities = try quality.map { q throws(JSONFields.Failure) in try JSONFields(q) }
                raws = try raw.map { r throws(JSONFields.Failure) in try JSONFields(r) }
            } catch {
                throw ReadingsError(description: "values: \(error)")
            }
        }

        /// Packs the reading of `id`: with the quality `quality` names, and the number `raw`
        /// gives for it, or else `value()`.
        func append(_ id: String, value: () throws(ReadingsError) -> Value?, to bytes: inout [UInt8]) throws(ReadingsError) {
            var readingQuality = Quality.good
            if let named = qualities?.string(id) {
                guard let quality = Quality(rawValue: named) else { throw ReadingsError(description: "\(id): unknown quality '\(named)'") }
                readingQuality = quality
            }
            let exact: Value? = if let exact = raws?.raw(id) { .number(try rawNumber(exact, id: id)) } else { try value() }
            SampleCodec.append(exact, quality: readingQuality, to: &bytes)
        }
    }

    /// The parameter ids (joined by ",") and the packed readings (`SampleCodec`) of a sample's
    /// `values`, `quality` and `raw` objects, in the order the values were sent.
    /// `knownParameters`: the keys of `values` as the message's reader found them, if it did; a
    /// key is taken from there only where its bytes spell it exactly, so they save decoding every
    /// key again and can never change what is hashed.
    public static func canonicalReadings(
        values: ArraySlice<UInt8>, quality: ArraySlice<UInt8>?, raw: ArraySlice<UInt8>?, knownParameters: [String] = []
    ) throws(ReadingsError) -> (parameters: String, bytes: [UInt8]) {
        let readings = try readingsOf(values: values, quality: quality, raw: raw, knownParameters: knownParameters)
        return (readings.parameters.joined(separator: ","), readings.bytes)
    }

    /// As `canonicalReadings`, with the ids as a list: where every key spells `knownParameters`
    /// (a device sends the same keys in every sample), that list itself, so ingest neither makes
    /// nor joins the names of each sample it proves.
    static func readingsOf(
        values: ArraySlice<UInt8>, quality: ArraySlice<UInt8>?, raw: ArraySlice<UInt8>?, knownParameters: [String]
    ) throws(ReadingsError) -> (parameters: [String], bytes: [UInt8]) {
        let annotations = try Annotations(quality: quality, raw: raw)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(knownParameters.count * 9)
        // The ids are `knownParameters` as long as every key so far spells the one in its place.
        var ids: [String]?
        var count = 0
        var failure: ReadingsError?
        do {
            var undecodable = false
            try JSONFields.forEachMember(values) { key, text in
                guard failure == nil, !undecodable else { return }
                let id: String
                if ids == nil, count < knownParameters.count, JSONFields.spells(key, knownParameters[count]) {
                    id = knownParameters[count]
                } else if let decoded = JSONFields.decodeString(key) {
                    if ids == nil { ids = Array(knownParameters.prefix(count)) }
                    ids!.append(decoded)
                    id = decoded
                } else {
                    undecodable = true
                    return
                }
                count += 1
                do throws(ReadingsError) {
                    try annotations.append(id, value: { () throws(ReadingsError) in try wireValue(text, id: id) }, to: &bytes)
                } catch {
                    failure = error
                }
            }
            if undecodable { throw JSONFields.Failure.malformed(at: values.startIndex) }
        } catch {
            throw ReadingsError(description: "values: \(error)")
        }
        if let failure { throw failure }
        return (ids ?? (count == knownParameters.count ? knownParameters : Array(knownParameters.prefix(count))), bytes)
    }


    /// A `raw` entry: the code behind a label as a JSON number, or the IEEE-754 bits of a number
    /// JSON cannot spell (non-finite, negative zero) as 16 hex digits.
    private static func rawNumber(_ text: ArraySlice<UInt8>, id: String) throws(ReadingsError) -> Double {
        if let hex = JSONFields.decodeString(text) {
            guard hex.utf8.count == 16, let bits = UInt64(hex, radix: 16) else {
                throw ReadingsError(description: "\(id): raw '\(hex)' is not 16 hex digits")
            }
            return Double(bitPattern: bits)
        }
        guard let number = JSONNumber.double(text), number.isFinite else {
            throw ReadingsError(description: "\(id): raw is neither a number nor 16 hex digits")
        }
        return number
    }

    /// A value from its bytes, as the message's reader reads it (`SampleChecks.plainValue`): one
    /// reading for both, so a sample hashes the same whichever of them read its values.
    private static func wireValue(_ text: ArraySlice<UInt8>, id: String) throws(ReadingsError) -> Value? {
        guard let value = SampleChecks.plainValue(text) else {
            if text.first == 0x22 { throw ReadingsError(description: "\(id): malformed text") }
            throw ReadingsError(description: "\(id): '\(String(decoding: text.prefix(40), as: UTF8.self))' is not a value")
        }
        return value
    }
}

extension RecordChain {
    /// The stored body of an event from its `event` field: the bytes as sent; `null` for an
    /// event recorded without a body.
    public static func eventBody(wire: ArraySlice<UInt8>) -> String {
        wire.elementsEqual("null".utf8) ? "" : String(decoding: wire, as: UTF8.self)
    }
}

extension JSONFields {
    /// The members of a JSON object in the order they were sent, each value as its exact bytes.
    public static func orderedMembers(_ bytes: ArraySlice<UInt8>) throws(Failure) -> [(String, ArraySlice<UInt8>)] {
        var members: [(String, ArraySlice<UInt8>)] = []
        let base = bytes.startIndex
        do {
            _ = try bytes.withUnsafeBufferPointer { buffer throws(Failure) in
                try forEachMember(in: buffer) { key, value throws(Failure) in
                    guard let name = decodeString(bytes[(base + key.lowerBound)..<(base + key.upperBound)]) else { throw .malformed(at: key.lowerBound) }
                    members.append((name, bytes[(base + value.lowerBound)..<(base + value.upperBound)]))
                }
            }
        } catch {
            throw error.moved(by: base)
        }
        return members
    }
}

extension SampleFields {
    /// A sample object's fields (as `ContractMessage.parse` reads them within a message).
    public static func read(_ fields: JSONFields) -> SampleFields {
        SampleFields(
            seq: fields.int("seq") ?? -1, time: fields.string("time") ?? "", timeNanoseconds: fields.int("time_ns"),
            cycle: fields.int("cycle"), batch: fields.string("batch"), phase: fields.string("phase"), spec: fields.string("spec"),
            values: fields.raw("values") ?? Array("{}".utf8)[...],
            quality: fields.raw("quality").flatMap { $0.elementsEqual("null".utf8) ? nil : $0 },
            raw: fields.raw("raw").flatMap { $0.elementsEqual("null".utf8) ? nil : $0 }, hash: fields.string("hash"),
            previousHash: fields.string("previous_hash"))
    }
}
