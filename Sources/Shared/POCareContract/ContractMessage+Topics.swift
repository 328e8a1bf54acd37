import POCareCore

/// How each topic of the contract is read, once `ContractMessage.parse` has checked the
/// message's size and JSON and which topic it came on.
extension ContractMessage {
    /// The topic a message came on: its levels under the root and the site it claims.
    struct Address {
        let topic: String
        let levels: [String]
        let site: String
        func malformed(_ reason: String) -> Failure { .malformed(site: site, topic: topic, reason: reason) }
    }

    /// A store epoch is stated by a later contract version; v1 records have none ("").
    private static func epoch(_ fields: JSONFields) -> String { fields.string("epoch") ?? "" }

    static func deviceMetadata(_ payload: [UInt8], _ at: Address) throws(Failure) -> ContractMessage {
        let device = at.levels[1]
        guard !payload.isEmpty else {
            return .deviceMetadata(DeviceMetadataMessage(site: at.site, device: device, fingerprint: nil, computed: nil, payload: nil))
        }
        guard let check = Contract.checkMetadata(payload) else {
            throw at.malformed("device metadata must begin with its fingerprint field")
        }
        do { _ = try JSONFields(payload) } catch { throw at.malformed("\(error)") }
        return .deviceMetadata(DeviceMetadataMessage(
            site: at.site, device: device, fingerprint: check.named, computed: check.computed, payload: payload))
    }

    static func specDocument(_ fields: JSONFields, _ payload: [UInt8], _ at: Address) throws(Failure) -> ContractMessage {
        let hex = at.levels[2]
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw at.malformed("a spec topic ends in the 64 hex digits of its fingerprint")
        }
        guard fields.string("schema") == "pocare/v1/spec", let canonical = fields.string("canonical") else {
            throw at.malformed("a spec needs schema pocare/v1/spec and its canonical form")
        }
        return .specDocument(SpecDocumentMessage(
            site: at.site, fingerprint: "sha256:" + hex, named: fields.string("fingerprint"),
            computed: Contract.specFingerprint(canonical: canonical), payload: payload))
    }

    static func status(_ fields: JSONFields, _ payload: [UInt8], _ at: Address) throws(Failure) -> ContractMessage {
        guard fields.string("schema") == "pocare/v1/status", let state = fields.string("state") else {
            throw at.malformed("a status needs schema pocare/v1/status and a state")
        }
        return .status(SiteStatusMessage(
            site: at.site, state: state, version: fields.string("version"), epoch: fields.string("epoch"),
            time: fields.string("time"), payload: payload))
    }

    static func auditEntry(_ fields: JSONFields, _ payload: [UInt8], _ at: Address) throws(Failure) -> ContractMessage {
        guard fields.string("schema") == "pocare/v1/audit", let seq = fields.int("seq"), isSiteSequence(seq) else {
            throw at.malformed("an audit entry needs schema pocare/v1/audit and a seq")
        }
        return .records(RecordMessage(
            site: at.site, epoch: epoch(fields), stream: fields.string("stream") ?? "audit", device: nil, kind: .audit,
            seqFirst: seq, seqLast: seq, records: [payload[...]], carriesChain: fields.has("hash")))
    }

    static func event(_ fields: JSONFields, _ payload: [UInt8], _ at: Address) throws(Failure) -> ContractMessage {
        let device = at.levels[1]
        guard fields.string("schema") == "pocare/v1/event", let seq = fields.int("seq"), isSiteSequence(seq),
              let stream = fields.string("stream")
        else {
            throw at.malformed("an event needs schema pocare/v1/event, a stream and a seq")
        }
        guard stream == "\(device)/events" else { throw at.malformed("stream '\(stream)' on the events topic of '\(device)'") }
        guard fields.raw("event").map({ $0.first == 0x7B }) ?? true else { throw at.malformed("event: expected an object") }
        try SampleChecks.time(fields.string("time"), at.malformed)
        return .records(RecordMessage(
            site: at.site, epoch: epoch(fields), stream: stream, device: fields.string("device") ?? device, kind: .event,
            seqFirst: seq, seqLast: seq, records: [payload[...]], carriesChain: fields.has("hash")))
    }

    /// `walked`: the samples as found while the envelope was read (`SampleMembers.walk`).
    static func telemetry(
        _ fields: JSONFields, _ payload: [UInt8], _ at: Address, limits: ContractLimits, walked: [SampleMembers.Walked?] = []
    ) throws(Failure) -> ContractMessage {
        let device = at.levels[1]
        guard fields.string("schema") == "pocare/v1/telemetry", let stream = fields.string("stream"),
            let first = fields.int("seq_first"), let last = fields.int("seq_last"), first <= last,
            isSiteSequence(first), isSiteSequence(last)
        else {
            throw at.malformed("telemetry needs schema pocare/v1/telemetry, a stream and seq_first <= seq_last")
        }
        guard stream == "\(device)/telemetry", (fields.string("device") ?? device) == device else {
            throw at.malformed("stream '\(stream)' of device '\(fields.string("device") ?? "-")' on the telemetry topic of '\(device)'")
        }
        guard last - first < Int64(limits.samplesPerMessage) else {
            throw at.malformed("\(last - first + 1) samples in one message; the contract allows \(limits.samplesPerMessage)")
        }
        let samples: [ArraySlice<UInt8>]
        do {
            guard let elements = try fields.arrayElements("samples") else { throw at.malformed("telemetry without samples") }
            samples = elements
        } catch let failure as Failure {
            throw failure
        } catch {
            throw at.malformed("samples: \(error)")
        }
        // Samples are consecutive: anything else is not what the site committed.
        guard Int64(samples.count) == last - first + 1 else {
            throw at.malformed("seq_first...seq_last is \(last - first + 1) numbers but \(samples.count) samples came")
        }
        let fieldsOfSamples = try sampleFields(
            samples, walked: walked, in: fields.bytes, first: first, previousHash: fields.string("previous_hash"), at, limits: limits)
        let chained = fieldsOfSamples.contains { $0.hash != nil || $0.previousHash != nil }
        return .records(RecordMessage(
            site: at.site, epoch: epoch(fields), stream: stream, device: fields.string("device") ?? device,
            kind: .sample, seqFirst: first, seqLast: last, records: samples, carriesChain: chained, samples: fieldsOfSamples,
            payload: payload))
    }

    /// Each sample read and checked. The message names the hash before its first sample; within
    /// it the samples are consecutive, so each one's previous hash is the one before it.
    /// `walked`: where the samples' members were found while the envelope was read, counted in
    /// `message`; a sample without (or not where the envelope put it) is walked here.
    private static func sampleFields(
        _ samples: [ArraySlice<UInt8>], walked: [SampleMembers.Walked?], in message: ArraySlice<UInt8>, first: Int64, previousHash: String?,
        _ at: Address, limits: ContractLimits
    ) throws(Failure) -> [SampleFields] {
        var fieldsOfSamples: [SampleFields] = []
        fieldsOfSamples.reserveCapacity(samples.count)
        var previousHash = previousHash
        var keysSeen = SampleChecks.KeysSeen()
        var batch = RepeatedString(), phase = RepeatedString(), spec = RepeatedString(), chained = RepeatedString()
        for (offset, raw) in samples.enumerated() {
            let sample: SampleMembers
            let base = message.startIndex
            if offset < walked.count, let found = walked[offset], found.start == raw.startIndex - base, found.end == raw.endIndex - base {
                sample = SampleMembers(found, in: message)
            } else {
                do { sample = try SampleMembers(raw) } catch { throw at.malformed("sample \(offset + 1): \(error)") }
            }
            guard let seq = sample.int(.seq), seq == first + Int64(offset), let time = sample.string(.time) else {
                throw at.malformed("sample \(offset + 1): needs seq \(first + Int64(offset)) and a time")
            }
            func inSample(_ reason: String) -> Failure { at.malformed("sample \(offset + 1): \(reason)") }
            try SampleChecks.time(time, inSample)
            let (parameters, read) = try SampleChecks.values(sample.raw(.values), limit: limits.parametersPerSample, seen: &keysSeen, inSample)
            try SampleChecks.quality(sample.raw(.quality), inSample)
            // A sample's previous hash is, byte for byte, the hash of the sample before it: decoded once.
            let named = chained.string(sample.raw(.previousHash)), hash = chained.string(sample.raw(.hash))
            var sampleFields = SampleFields(
                seq: seq, time: time, timeNanoseconds: sample.int(.timeNs), cycle: sample.int(.cycle), batch: batch.string(sample.raw(.batch)),
                phase: phase.string(sample.raw(.phase)), spec: spec.string(sample.raw(.spec)), values: sample.raw(.values) ?? Array("{}".utf8)[...],
                quality: sample.raw(.quality).flatMap { $0.elementsEqual("null".utf8) ? nil : $0 },
                raw: sample.raw(.raw).flatMap { $0.elementsEqual("null".utf8) ? nil : $0 },
                hash: hash, previousHash: named ?? previousHash)
            sampleFields.parameters = parameters
            sampleFields.readValues = read
            // A null hash is a hash the sample does not have: on a stream that carries hashes, a break (the writer decides).
            sampleFields.nullHash = sample.raw(.hash).map { $0.elementsEqual("null".utf8) } ?? false
            fieldsOfSamples.append(sampleFields)
            previousHash = hash
        }
        return fieldsOfSamples
    }
}

/// A text member that repeats from sample to sample (batch, phase, spec, a hash and the next
/// sample's previous hash): decoded once for as long as its bytes stay the same.
struct RepeatedString {
    private var bytes: ArraySlice<UInt8>?
    private var value: String?

    /// The member's text; nil when absent, null or not a string.
    mutating func string(_ raw: ArraySlice<UInt8>?) -> String? {
        guard let raw else { return nil }
        if let bytes, bytes.elementsEqual(raw) { return value }
        bytes = raw
        value = JSONFields.decodeString(raw)
        return value
    }
}

/// The members of one sample that ingest reads, found in one scan of the object: a sample is
/// parsed tens of thousands of times a second, and a dictionary of its keys cost more than the
/// scan. A key given twice counts as its last, as `JSONFields` keeps it; others are skipped.
struct SampleMembers {
    /// At most 16, as many as `lower` and `upper` hold.
    enum Key: Int, CaseIterable {
        case seq, time, timeNs, cycle, batch, phase, spec, values, quality, raw, hash, previousHash

        var name: String {
            switch self {
            case .seq: "seq"
            case .time: "time"
            case .timeNs: "time_ns"
            case .cycle: "cycle"
            case .batch: "batch"
            case .phase: "phase"
            case .spec: "spec"
            case .values: "values"
            case .quality: "quality"
            case .raw: "raw"
            case .hash: "hash"
            case .previousHash: "previous_hash"
            }
        }
    }

    private static let keys = JSONKeyTable(Key.allCases.map(\.name))
    private let sample: ArraySlice<UInt8>
    /// Where each member's value lies in `sample`, by `Key`: `lower..<upper`, or a `lower` of
    /// `absent` when the sample lacks it. Kept in place, not as an array of slices: that was an
    /// allocation and a dozen reference counts a sample.
    private let lower: SIMD16<Int>, upper: SIMD16<Int>

    init(_ raw: ArraySlice<UInt8>) throws(JSONFields.Failure) {
        let base = raw.startIndex
        do {
            // Walked in place: a slice of each key and value would count references to the message's bytes.
            let found = try raw.withUnsafeBufferPointer { buffer throws(JSONFields.Failure) in try Self.walk(buffer) }
            (sample, lower, upper) = (raw, found.lower &+ base, found.upper &+ base)
        } catch {
            throw error.moved(by: base)
        }
    }

    /// A sample found while the envelope was read (`Walked`), its positions counted in `message`.
    init(_ walked: Walked, in message: ArraySlice<UInt8>) {
        let base = message.startIndex
        sample = message[(base + walked.start)..<(base + walked.end)]
        (lower, upper) = (walked.lower &+ base, walked.upper &+ base)
    }

    /// Where a sample and its members lie in the bytes of its message.
    struct Walked {
        var start, end: Int
        var lower, upper: SIMD16<Int>
    }

    /// The members of the sample object that starts at `start` in a message's bytes; nil where it
    /// is not an object of members (`init` then says why, for the sample by its number).
    static func walk(_ message: UnsafeBufferPointer<UInt8>, from start: Int) -> Walked? {
        guard let found = try? walk(UnsafeBufferPointer(rebasing: message[start...])) else { return nil }
        return Walked(start: start, end: start + found.end, lower: found.lower &+ start, upper: found.upper &+ start)
    }

    /// A member the sample lacks: negative however far into a message its positions are shifted.
    private static let absent = Int.min / 2

    /// The object at the start of `bytes`: where it ends, and where each member's value lies
    /// (`absent` for a member it lacks).
    private static func walk(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONFields.Failure) -> (end: Int, lower: SIMD16<Int>, upper: SIMD16<Int>) {
        var lower = SIMD16<Int>(repeating: Self.absent), upper = SIMD16<Int>(repeating: Self.absent)
        let end = try JSONFields.forEachMember(in: bytes) { key, value in
            if let index = Self.keys.index(of: UnsafeBufferPointer(rebasing: bytes[key])) {
                lower[index] = value.lowerBound
                upper[index] = value.upperBound
            }
        }
        return (end, lower, upper)
    }

    func raw(_ key: Key) -> ArraySlice<UInt8>? {
        let i = key.rawValue
        return lower[i] < 0 ? nil : sample[lower[i]..<upper[i]]
    }
    /// nil when absent, null or not a string.
    func string(_ key: Key) -> String? { raw(key).flatMap(JSONFields.decodeString) }
    /// nil when absent, null or not an integer.
    func int(_ key: Key) -> Int64? { raw(key).flatMap(JSONFields.int(raw:)) }
}
