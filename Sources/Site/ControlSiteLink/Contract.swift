import Foundation

#if canImport(Glibc)
import Glibc
#endif
import POCareCore
import SiteStore

/// The MQTT contract, version 1: topics and payloads the Control Site can rely on.
/// See docs/mqtt.md and docs/asyncapi.yaml.
public struct Topics: Sendable, Hashable {
    public static let schemaVersion = "pocare/v1"
    public let prefix: String

    public init(site: String, root: String = "pocare/v1") { prefix = "\(root)/\(site)" }

    public var status: String { "\(prefix)/status" }
    public var audit: String { "\(prefix)/audit" }
    public func telemetry(_ device: String) -> String { "\(prefix)/\(device)/telemetry" }
    public func events(_ device: String) -> String { "\(prefix)/\(device)/events" }

    /// The topic a store stream is published on.
    public func topic(for stream: StreamName) -> String { "\(prefix)/\(stream.topicLevels)" }
}

/// Writes JSON by hand into bytes: fast enough for a backlog drain, and deterministic.
struct JSONWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }
    mutating func raw(_ byte: UInt8) { bytes.append(byte) }

    mutating func string(_ s: String) {
        bytes.append(0x22)
        // Ids, units and labels need no escaping: copy them whole.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            bytes.append(contentsOf: s.utf8)
            bytes.append(0x22)
            return
        }
        for unit in s.utf8 {
            switch unit {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                raw(String(format: "\\u%04x", unit))
            default: bytes.append(unit)
            }
        }
        bytes.append(0x22)
    }

    mutating func optional(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    /// A string from stored UTF-8 bytes, escaped as `string(_:)` escapes.
    mutating func string(bytes s: UnsafeRawBufferPointer) {
        if s.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            bytes.append(0x22)
            bytes.append(contentsOf: s)
            bytes.append(0x22)
            return
        }
        string(String(decoding: s, as: UTF8.self))
    }

    mutating func optional(bytes s: UnsafeRawBufferPointer?) {
        if let s { string(bytes: s) } else { raw("null") }
    }

    mutating func number(_ v: Double) {
        guard v.isFinite else { return raw("null") }
        // Fast path, exact: a value with at most six decimals is written digit by digit. The
        // check is exact because IEEE division is correctly rounded: if scaled / 1e6 == v, the
        // decimal text parses back to v. Anything else takes the general shortest form.
        let scaled = (v * 1_000_000).rounded()
        guard abs(scaled) < 9e15, scaled / 1_000_000 == v else { return raw("\(v)") }
        var units = Int64(scaled)
        // Digits go into a small buffer, by constant divisions only, and join the bytes at once:
        // a drain writes millions of numbers a second.
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { out in
            var n = 0
            if units < 0 {
                out[n] = 0x2D
                n += 1
                units = -units
            }
            var whole = units / 1_000_000
            var fraction = Int(units - whole * 1_000_000)
            var digits = 1
            var rest = whole / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            var position = n + digits - 1
            repeat {
                out[position] = UInt8(truncatingIfNeeded: 48 + whole % 10)
                whole /= 10
                position -= 1
            } while whole > 0
            n += digits
            if fraction != 0 {
                out[n] = 0x2E
                n += 1
                var width = 6
                while fraction % 10 == 0 {
                    fraction /= 10
                    width -= 1
                }
                position = n + width - 1
                for _ in 0..<width {
                    out[position] = UInt8(truncatingIfNeeded: 48 + fraction % 10)
                    fraction /= 10
                    position -= 1
                }
                n += width
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: out[0..<n]))
        }
    }

    /// A whole number of either sign.
    mutating func signed(_ value: Int64) {
        guard value >= 0 else { return raw("\(value)") }
        integer(value)
    }

    mutating func integer(_ value: Int64) {
        if value < 10 { return bytes.append(UInt8(48 + value)) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while v > 0 {
                buffer[count] = UInt8(48 + v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
        }
    }

    mutating func key(_ k: String) {
        string(k)
        bytes.append(0x3A)
    }

    /// The date part of the last time written (`YYYY-MM-DD`) and its day number: the samples
    /// of a message almost always share their day, so the calendar is worked out once.
    private var cachedDay = Int64.min
    private var cachedDate: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit (a backlog drain formats
    /// hundreds of thousands of these a second; a general formatter is the slowest part).
    mutating func time(_ date: Date) {
        time(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    /// The same, from a stored time in nanoseconds (rounded to the nearest millisecond).
    mutating func time(nanoseconds: Int64) {
        // The arithmetic of `time(Date(nanosecondsSince1970:))`, so both write the same digits.
        time(milliseconds: Int64((Double(nanoseconds) / 1e9 * 1000).rounded()))
    }

    private mutating func time(milliseconds millis: Int64) {
        let day = millis >= 0 ? millis / 86_400_000 : (millis + 1) / 86_400_000 - 1
        let millisOfDay = Int(millis - day * 86_400_000)
        if day != cachedDay {
            var seconds = time_t(day * 86_400)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let year = Int(parts.tm_year) + 1900, month = Int(parts.tm_mon) + 1, dayOfMonth = Int(parts.tm_mday)
            func digit(_ value: Int) -> UInt8 { UInt8(48 + abs(value) % 10) }
            cachedDate = (
                digit(year / 1000), digit(year / 100), digit(year / 10), digit(year), 0x2D,
                digit(month / 10), digit(month), 0x2D, digit(dayOfMonth / 10), digit(dayOfMonth))
            cachedDay = day
        }
        bytes.append(0x22)
        withUnsafeBytes(of: cachedDate) { bytes.append(contentsOf: $0) }
        let hour = millisOfDay / 3_600_000, minute = millisOfDay / 60_000 % 60, second = millisOfDay / 1000 % 60
        let fraction = millisOfDay % 1000
        bytes.append(0x54)
        bytes.append(UInt8(48 + hour / 10))
        bytes.append(UInt8(48 + hour % 10))
        bytes.append(0x3A)
        bytes.append(UInt8(48 + minute / 10))
        bytes.append(UInt8(48 + minute % 10))
        bytes.append(0x3A)
        bytes.append(UInt8(48 + second / 10))
        bytes.append(UInt8(48 + second % 10))
        bytes.append(0x2E)
        bytes.append(UInt8(48 + fraction / 100))
        bytes.append(UInt8(48 + fraction / 10 % 10))
        bytes.append(UInt8(48 + fraction % 10))
        bytes.append(contentsOf: [0x5A, 0x22])
    }
}

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
        site: String, device: String, samples: ArraySlice<StoredSample>, sent: Date, epoch: String? = nil,
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
            // No string interpolation per sample: a drain writes hundreds of thousands a second.
            w.raw("{\"seq\":")
            w.signed(sample.seq)
            w.raw(",\"time\":")
            w.time(sample.time)
            w.raw(",\"cycle\":")
            w.signed(sample.cycle)
            w.raw(",\"batch\":")
            w.optional(sample.context.batchId)
            w.raw(",\"phase\":")
            w.optional(sample.context.phase)
            w.raw(",\"spec\":")
            w.optional(sample.context.specFingerprint)
            w.raw(",\"hash\":")
            w.optional(sample.hash)
            w.raw(",\"values\":{")
            // The labels the sample was taken under; the given ones for a sample stored without.
            let labels = sample.labels?.byParameter ?? labels
            var bad: [(String, Quality)] = []
            for (k, reading) in sample.readings.enumerated() {
                if k > 0 { w.raw(0x2C) }
                w.key(reading.parameterId)
                switch reading.value {
                case .number(let v)?:
                    // An enumerated value travels as its label; a code the enumeration lacks
                    // travels as the number, so a consumer tells the two apart by JSON type.
                    if !labels.isEmpty, let label = labels[reading.parameterId]?[v] {
                        w.string(label)
                    } else {
                        w.number(v)
                    }
                case .flag(let b)?: w.raw(b ? "true" : "false")
                case .text(let t)?: w.string(t)
                case nil: w.raw("null")
                }
                if reading.quality != .good { bad.append((reading.parameterId, reading.quality)) }
            }
            w.raw("}")
            if !bad.isEmpty {
                w.raw(",\"quality\":{")
                for (k, entry) in bad.enumerated() {
                    if k > 0 { w.raw(0x2C) }
                    w.key(entry.0)
                    w.string(entry.1.rawValue)
                }
                w.raw("}")
            }
            w.raw("}")
        }
        w.raw("]}")
        return w.bytes
    }

    /// One event message; the stored event body is embedded as it was committed.
    public static func event(site: String, event: StoredEvent, epoch: String? = nil) -> [UInt8] {
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
        w.raw(",\"kind\":")
        w.string(event.kind)
        w.raw(",\"batch\":")
        w.optional(event.batchId)
        w.raw(",\"phase\":")
        w.optional(event.phase)
        w.raw(",\"spec\":")
        w.optional(event.specFingerprint)
        w.raw(",\"event\":")
        w.raw(event.body.isEmpty ? "{}" : event.body)
        w.raw("}")
        return w.bytes
    }

    /// One audit entry, with its hash and the previous one, so the Control Site can keep the chain too.
    public static func audit(site: String, entry: AuditEntry, epoch: String? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.raw("{\"seq\":\(entry.seq),\"schema\":\"\(Topics.schemaVersion)/audit\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.optional(epoch)
        w.raw(",\"device\":null,\"stream\":\"audit\",\"time\":")
        w.time(entry.time)
        w.raw(",\"batch\":null,\"phase\":null,\"spec\":null,\"user\":")
        w.string(entry.action.user)
        w.raw(",\"action\":")
        w.string(entry.action.action)
        w.raw(",\"target\":")
        w.string(entry.action.target)
        w.raw(",\"reason\":")
        w.optional(entry.action.reason)
        w.raw(",\"old_value\":")
        w.optional(entry.action.oldValue)
        w.raw(",\"new_value\":")
        w.optional(entry.action.newValue)
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
