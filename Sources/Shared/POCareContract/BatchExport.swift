import Foundation
import Hashing

/// A batch exported by `pocare-control batch export`: a self-contained JSON file with each chain
/// segment's records as the contract carries them, the checkpoints the site signed, the site's
/// registered keys, the spec and the review signatures, so `pocarectl verify --export` can prove
/// the records without a database (docs/control-site.md, "Exported batches").
public struct BatchExport: Codable, Sendable {
    public static let schema = "pocare/v1/batch_export"

    public struct Key: Codable, Sendable {
        public var key: String
        public var validFromNs: Int64?
        public var retiredFromNs: Int64?
        public init(key: String, validFromNs: Int64?, retiredFromNs: Int64?) {
            self.key = key
            self.validFromNs = validFromNs
            self.retiredFromNs = retiredFromNs
        }
    }

    public struct Segment: Codable, Sendable {
        public var epoch: String
        public var stream: String
        /// `sample`, `event` or `audit`.
        public var kind: String
        public var device: String
        /// Each record as JSON text: a telemetry sample object, or a whole event or audit message.
        public var records: [String]
        public init(epoch: String, stream: String, kind: String, device: String, records: [String]) {
            self.epoch = epoch
            self.stream = stream
            self.kind = kind
            self.device = device
            self.records = records
        }
    }

    public var schema = BatchExport.schema
    public var site: String
    public var batch: String
    public var exported: String
    public var keys: [Key]
    public var segments: [Segment]
    /// The checkpoint bodies as the site signed them.
    public var checkpoints: [String]
    /// The spec documents the batch ran, as the site published them.
    public var specs: [String]
    /// The review signatures, as JSON objects.
    public var signatures: [String]

    public init(site: String, batch: String, exported: String, keys: [Key], segments: [Segment], checkpoints: [String], specs: [String],
                signatures: [String]) {
        self.site = site
        self.batch = batch
        self.exported = exported
        self.keys = keys
        self.segments = segments
        self.checkpoints = checkpoints
        self.specs = specs
        self.signatures = signatures
    }

    /// Verifies the file: every record recomputed and linked, every segment's end reached by a
    /// checkpoint a key in force signed, naming the record's hash. Lines to print, and whether all holds.
    public func verify() -> (lines: [String], intact: Bool) {
        var lines: [String] = ["batch \(batch) of \(site), exported \(exported)"]
        var intact = true
        // Verified heads: (epoch, stream) -> seq -> hash.
        var signed: [String: [Int64: String]] = [:]
        for text in checkpoints {
            guard let received = try? Checkpoint.read(Array(text.utf8)[...]) else {  // reported as unreadable, not thrown
                lines.append("checkpoint unreadable")
                intact = false
                continue
            }
            let c = received.checkpoint
            let inForce = keys.contains { entry in
                guard entry.key == c.key, let key = try? Ed25519.PublicKey(text: entry.key) else { return false }  // an unreadable key verifies nothing
                let from = entry.validFromNs.map { c.signedNanoseconds >= $0 } ?? true
                let until = entry.retiredFromNs.map { c.signedNanoseconds < $0 } ?? true
                return from && until && c.site == site && received.isSigned(by: key)
            }
            guard inForce else {
                lines.append("checkpoint of \(c.signedNanoseconds) (\(c.key.prefix(20))…) is not signed by a key in force for \(site)")
                continue
            }
            for chain in c.chains { signed[c.epoch + "\u{0}" + chain.stream, default: [:]][chain.seq] = chain.hash }
        }
        for segment in segments {
            var walk = ChainWalk(stream: segment.stream)
            for text in segment.records {
                let bytes = Array(text.utf8)
                guard let fields = try? JSONFields(bytes) else {  // a damaged record is a break, named below
                    walk.take(seq: -1, hash: nil, previousHash: nil, verdict: .notRecomputable("unreadable"))
                    continue
                }
                let verdict: WireRecordHash.Verdict
                switch segment.kind {
                case "sample":
                    let sample = SampleFields.read(fields)
                    verdict = WireRecordHash.sample(stream: segment.stream, device: segment.device, sample: sample)
                case "event": verdict = WireRecordHash.event(fields)
                default: verdict = WireRecordHash.audit(fields)
                }
                walk.take(seq: fields.int("seq") ?? -1, hash: fields.string("hash"), previousHash: fields.string("previous_hash"), verdict: verdict)
            }
            var line = walk.summary
            var ok = walk.firstBreak == nil && walk.notRecomputable == 0
            let heads = signed[segment.epoch + "\u{0}" + segment.stream] ?? [:]
            if let last = walk.lastSeq, let head = heads.keys.filter({ $0 == last }).first, heads[head] == walk.hashes[head] {
                line += "; signed through \(head)"
            } else {
                line += "; UNSIGNED: no verified checkpoint names its last record's hash"
                ok = false
            }
            intact = intact && ok
            lines.append(line)
        }
        lines.append(intact ? "every record recomputed, linked and signed" : "NOT intact")
        return (lines, intact)
    }
}
