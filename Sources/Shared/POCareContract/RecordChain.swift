import Hashing

/// The hash chain over every record of a stream (samples and events; the audit trail has its
/// own, `AuditChain`). Each record's hash is SHA-256 over its canonical bytes, which begin with
/// the previous record's hash, so changing, removing or inserting any record breaks the chain
/// from there on. The hash is computed in the committing transaction and stored with the row.
///
/// Canonical bytes, version 1 (docs/site-store.md): text fields as UTF-8 each followed by one
/// 0x00 byte, whole numbers as 8 bytes big-endian two's complement.
///
///     sample: "pocare-sample/1" 0 | previous hash (64 hex digits) 0 | stream 0 | seq | device 0 |
///             time_ns | cycle | batch 0 | phase 0 | spec 0 | parameter ids joined by "," 0 | readings
///     event:  "pocare-event/1" 0 | previous hash 0 | stream 0 | seq | device 0 | time_ns |
///             kind 0 | alarm 0 | batch 0 | phase 0 | spec 0 | body
///
/// An absent batch, phase, spec or alarm is the empty text. `readings` is the stored encoding
/// of the values (`SampleCodec`): per parameter one byte (quality << 4 | kind), then 8 bytes
/// little-endian IEEE-754 for a number, or a 2-byte little-endian length and UTF-8 for text.
public enum RecordChain {
    /// The previous hash of a stream's first record.
    public static let genesis = String(repeating: "0", count: 64)

    /// Builds the canonical bytes in a buffer the caller reuses, and hashes them.
    public struct Hasher {
        private var buffer: [UInt8] = []

        public init() { buffer.reserveCapacity(1024) }

        public mutating func sample(
            previous: String, stream: String, seq: Int64, device: String, timeNanoseconds: Int64, cycle: Int64,
            batch: String?, phase: String?, spec: String?, parameters: String, readings: [UInt8]
        ) -> String {
            sampleHead(previous: previous, stream: stream, seq: seq, device: device, timeNanoseconds: timeNanoseconds, cycle: cycle,
                       batch: batch, phase: phase, spec: spec)
            text(parameters)
            buffer.append(contentsOf: readings)
            return buffer.withUnsafeBytes { SHA256.hex($0) }
        }

        /// As above, with the parameter ids as a list: written joined by "," as `parameters` is.
        public mutating func sample(
            previous: String, stream: String, seq: Int64, device: String, timeNanoseconds: Int64, cycle: Int64,
            batch: String?, phase: String?, spec: String?, parameterIds: [String], readings: [UInt8]
        ) -> String {
            sampleHead(previous: previous, stream: stream, seq: seq, device: device, timeNanoseconds: timeNanoseconds, cycle: cycle,
                       batch: batch, phase: phase, spec: spec)
            for (index, id) in parameterIds.enumerated() {
                if index > 0 { buffer.append(0x2C) }
                append(id)
            }
            buffer.append(0)
            buffer.append(contentsOf: readings)
            return buffer.withUnsafeBytes { SHA256.hex($0) }
        }

        private mutating func sampleHead(
            previous: String, stream: String, seq: Int64, device: String, timeNanoseconds: Int64, cycle: Int64,
            batch: String?, phase: String?, spec: String?
        ) {
            buffer.removeAll(keepingCapacity: true)
            text("pocare-sample/1")
            text(previous)
            text(stream)
            number(seq)
            text(device)
            number(timeNanoseconds)
            number(cycle)
            text(batch ?? "")
            text(phase ?? "")
            text(spec ?? "")
        }

        public mutating func event(
            previous: String, stream: String, seq: Int64, device: String, timeNanoseconds: Int64, kind: String, alarm: String?,
            batch: String?, phase: String?, spec: String?, body: String
        ) -> String {
            buffer.removeAll(keepingCapacity: true)
            text("pocare-event/1")
            text(previous)
            text(stream)
            number(seq)
            text(device)
            number(timeNanoseconds)
            text(kind)
            text(alarm ?? "")
            text(batch ?? "")
            text(phase ?? "")
            text(spec ?? "")
            buffer.append(contentsOf: body.utf8)
            return buffer.withUnsafeBytes { SHA256.hex($0) }
        }

        private mutating func text(_ value: String) {
            append(value)
            buffer.append(0)
        }

        /// A string's bytes copied at once (appending its `utf8` view goes a byte at a time).
        private mutating func append(_ value: String) {
            // A native string lends its bytes; only another kind is copied to be made contiguous.
            if value.utf8.withContiguousStorageIfAvailable({ buffer.append(contentsOf: $0) }) != nil { return }
            var value = value
            value.withUTF8 { buffer.append(contentsOf: $0) }
        }

        private mutating func number(_ value: Int64) {
            let bits = UInt64(bitPattern: value)
            for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        }
    }
}
