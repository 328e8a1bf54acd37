import Foundation

#if canImport(Glibc)
import Glibc
#endif
import POCareCore


public enum Contract {
    /// UTC, ISO 8601, to the nearest millisecond: `2026-11-25T08:00:00.250Z`.
    public static func format(_ date: Date) -> String {
        var writer = JSONWriter(capacity: 32)
        writer.time(date)
        return String(decoding: writer.bytes.dropFirst().dropLast(), as: UTF8.self)
    }

    /// One telemetry message: consecutive samples of one device's stream (the link writes the
    /// same bytes straight from the store with `TelemetryEncoder`).
    /// The message's `previous_hash` is the chain hash before its first sample; each sample
    /// carries its own `hash`, and within the message each sample's previous hash is the hash of
    /// the sample before it (the samples are consecutive).
    public static func telemetry(
        site: String, device: String, samples: some BidirectionalCollection<PublishedSample>, sent: Date, epoch: String? = nil,
        labels: Labels = [:]
    ) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + samples.count * 400)
        let first = samples.first?.seq ?? 0, last = samples.last?.seq ?? 0
        w.raw("{\"seq_first\":\(first),\"seq_last\":\(last),\"schema\":\"\(Topics.schemaVersion)/telemetry\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.optional(epoch)
        w.raw(",\"previous_hash\":")
        w.optional(samples.first?.previousHash)
        w.raw(",\"device\":")
        w.string(device)
        w.raw(",\"stream\":")
        w.string(StreamName.telemetry(device: device).description)
        w.raw(",\"sent\":")
        w.time(sent)
        w.raw(",\"samples\":[")
        for (n, sample) in samples.enumerated() {
            if n > 0 { w.raw(0x2C) }
            writeSample(sample, labels: labels, to: &w)
        }
        w.raw("]}")
        return w.bytes
    }

    /// One sample of a telemetry message. No string interpolation per sample: a drain writes
    /// hundreds of thousands a second.
    @inline(__always)
    static func writeSample(_ sample: PublishedSample, labels: Labels, to w: inout JSONWriter) {
        w.raw("{\"seq\":")
        w.signed(sample.seq)
        w.raw(",\"time\":")
        w.time(sample.time)
        if let ns = sample.timeNanoseconds {
            w.raw(",\"time_ns\":")
            w.signed(ns)
        }
        w.raw(",\"cycle\":")
        w.signed(sample.cycle)
        w.raw(",\"batch\":")
        w.optional(sample.batch)
        w.raw(",\"phase\":")
        w.optional(sample.phase)
        w.raw(",\"spec\":")
        w.optional(sample.spec)
        w.raw(",\"hash\":")
        w.optional(sample.hash)
        w.raw(",\"values\":{")
        // The labels the sample was taken under; the given ones for a sample stored without.
        let labels = sample.labels ?? labels
        var bad: [(String, Quality)] = []
        var exact: [(String, Double)] = []
        for (k, reading) in sample.readings.enumerated() {
            if k > 0 { w.raw(0x2C) }
            w.key(reading.parameterId)
            switch reading.value {
            case .number(let v)?:
                // An enumerated value travels as its label; a code the enumeration lacks
                // travels as the number, so a consumer tells the two apart by JSON type.
                if !labels.isEmpty, let label = labels[reading.parameterId]?[v] {
                    w.string(label)
                    exact.append((reading.parameterId, v))
                } else {
                    w.number(v)
                    if RawNumber.needsBits(v) { exact.append((reading.parameterId, v)) }
                }
            case .flag(let b)?: w.raw(b ? "true" : "false")
            case .text(let t)?: w.string(t)
            case nil: w.raw("null")
            }
            if reading.quality != .good { bad.append((reading.parameterId, reading.quality)) }
        }
        w.raw("}")
        writeMembers(",\"raw\":{", exact, to: &w) { RawNumber.write($0, to: &$1) }
        writeMembers(",\"quality\":{", bad, to: &w) { $1.string($0.rawValue) }
        w.raw("}")
    }

    /// `opening`, then each `key: value`, and a closing brace; nothing when there are none.
    @inline(__always)
    static func writeMembers<Value>(_ opening: String, _ members: [(String, Value)], to w: inout JSONWriter,
                                    _ value: (Value, inout JSONWriter) -> Void) {
        guard !members.isEmpty else { return }
        w.raw(opening)
        for (k, entry) in members.enumerated() {
            if k > 0 { w.raw(0x2C) }
            w.key(entry.0)
            value(entry.1, &w)
        }
        w.raw("}")
    }

    /// One event message; the stored event body is embedded as it was committed.
    public static func event(site: String, event: PublishedEvent, epoch: String? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 640 + event.body.utf8.count)
        w.raw("{\"seq\":\(event.seq),\"schema\":\"\(Topics.schemaVersion)/event\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.optional(epoch)
        w.raw(",\"previous_hash\":")
        w.optional(event.previousHash)
        w.raw(",\"hash\":")
        w.optional(event.hash)
        w.raw(",\"device\":")
        w.string(event.device)
        w.raw(",\"stream\":")
        w.string(event.stream.description)
        w.raw(",\"time\":")
        w.time(event.time)
        if let ns = event.timeNanoseconds {
            w.raw(",\"time_ns\":")
            w.signed(ns)
        }
        w.raw(",\"kind\":")
        w.string(event.kind)
        w.raw(",\"alarm\":")
        w.optional(event.alarm)
        w.raw(",\"batch\":")
        w.optional(event.batch)
        w.raw(",\"phase\":")
        w.optional(event.phase)
        w.raw(",\"spec\":")
        w.optional(event.spec)
        w.raw(",\"event\":")
        // An event recorded without a body travels as null, so the body hashed is the body sent.
        w.raw(event.body.isEmpty ? "null" : event.body)
        w.raw("}")
        return w.bytes
    }

    /// One audit entry, with its hash and the previous one, so the Control Site can keep the chain too.
    public static func audit(site: String, entry: PublishedAuditEntry, epoch: String? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.raw("{\"seq\":\(entry.seq),\"schema\":\"\(Topics.schemaVersion)/audit\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.optional(epoch)
        w.raw(",\"device\":null,\"stream\":\"audit\",\"time\":")
        w.time(entry.time)
        w.raw(",\"batch\":null,\"phase\":null,\"spec\":null,\"user\":")
        w.string(entry.user)
        w.raw(",\"action\":")
        w.string(entry.action)
        w.raw(",\"target\":")
        w.string(entry.target)
        w.raw(",\"reason\":")
        w.optional(entry.reason)
        w.raw(",\"old_value\":")
        w.optional(entry.oldValue)
        w.raw(",\"new_value\":")
        w.optional(entry.newValue)
        w.raw(",\"time_ns\":\(entry.timeNanoseconds),\"previous_hash\":")
        w.string(entry.previousHash)
        w.raw(",\"hash\":")
        w.string(entry.hash)
        w.raw("}")
        return w.bytes
    }

    /// What the site is running, for the retained status topic.
    public struct DeviceStatus: Sendable, Hashable {
        public var id: String
        public var profile: String
        public var batch: String?
        public var phase: String?
        public var spec: String?
        /// Whether the last poll got any good value from the device.
        public var reachable: Bool?
        /// The fingerprint of the device's retained metadata (`…/{device}/meta`).
        public var meta: String?
        public init(
            id: String, profile: String, batch: String?, phase: String?, spec: String?, reachable: Bool? = nil, meta: String? = nil
        ) {
            self.meta = meta
            self.id = id
            self.profile = profile
            self.batch = batch
            self.phase = phase
            self.spec = spec
            self.reachable = reachable
        }
    }

    public static func status(site: String, online: Bool, time: Date, devices: [DeviceStatus], epoch: String? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"schema\":\"\(Topics.schemaVersion)/status\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.optional(epoch)
        w.raw(",\"state\":\"\(online ? "online" : "offline")\",\"time\":")
        w.time(time)
        w.raw(",\"version\":")
        w.string(POCareVersion.current)
        w.raw(",\"specs\":[")
        for (n, spec) in Set(devices.compactMap(\.spec)).sorted().enumerated() {
            if n > 0 { w.raw(0x2C) }
            w.string(spec)
        }
        w.raw("],\"devices\":[")
        for (n, d) in devices.enumerated() {
            if n > 0 { w.raw(0x2C) }
            w.raw("{\"id\":")
            w.string(d.id)
            w.raw(",\"profile\":")
            w.string(d.profile)
            w.raw(",\"batch\":")
            w.optional(d.batch)
            w.raw(",\"phase\":")
            w.optional(d.phase)
            w.raw(",\"spec\":")
            w.optional(d.spec)
            w.raw(",\"reachable\":")
            w.raw(d.reachable.map { $0 ? "true" : "false" } ?? "null")
            w.raw(",\"meta\":")
            w.optional(d.meta)
            w.raw("}")
        }
        w.raw("]}")
        return w.bytes
    }

    /// The last will: the broker publishes it (retained) if the site disappears without a word.
    public static func offline(site: String) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"schema\":\"\(Topics.schemaVersion)/status\",\"site\":")
        w.string(site)
        w.raw(",\"state\":\"offline\"}")
        return w.bytes
    }
}

/// The `raw` entry of a telemetry value whose JSON form is not the number the site stored: an
/// enumeration code sent as its label travels as the number; a number JSON cannot spell
/// (non-finite, negative zero) as the 16 hex digits of its IEEE-754 bits.
package enum RawNumber {
    package static func needsBits(_ v: Double) -> Bool { !v.isFinite || (v == 0 && v.sign == .minus) }

    package static func write(_ v: Double, to w: inout JSONWriter) {
        guard needsBits(v) else { return w.number(v) }
        let hex = String(v.bitPattern, radix: 16)
        w.string(String(repeating: "0", count: 16 - hex.utf8.count) + hex)
    }
}
