import Foundation
import POCareContract
import POCareCore
import SiteStore

/// Writes telemetry messages straight from the stored rows, byte for byte what
/// `Contract.telemetry` writes from decoded samples, without building a `Reading`, a `String` or
/// a `Date` per sample: the backlog drain's hot path. Per layout and label set it keeps the
/// parameters' JSON keys and labels, so per sample only the sample's own bytes are written.
/// Owned by the link thread.
final class TelemetryEncoder {
    /// How the readings of one layout under one label set are written.
    private struct Plan {
        var keys: [[UInt8]]
        var labels: [[Double: String]?]
    }

    private struct PlanKey: Hashable {
        var layout: Int64
        var labelSet: Int64?
    }

    struct Message {
        var payload: [UInt8]
        var first: Int64
        var last: Int64
        /// The last sample's chain hash: the next message's `previous_hash`.
        var lastHash: String?
    }

    /// The fixed pieces of a sample, as bytes.
    private enum Fragment {
        static let firstSample = Array("{\"seq\":".utf8)
        static let nextSample = Array(",{\"seq\":".utf8)
        static let time = Array(",\"time\":".utf8)
        static let timeNanoseconds = Array(",\"time_ns\":".utf8)
        static let raw = Array(",\"raw\":{".utf8)
        static let cycle = Array(",\"cycle\":".utf8)
        static let batch = Array(",\"batch\":".utf8)
        static let phase = Array(",\"phase\":".utf8)
        static let spec = Array(",\"spec\":".utf8)
        static let hash = Array(",\"hash\":".utf8)
        static let values = Array(",\"values\":{".utf8)
        static let quality = Array(",\"quality\":{".utf8)
        static let `true` = Array("true".utf8)
        static let `false` = Array("false".utf8)
        static let null = Array("null".utf8)
    }

    private var plans: [PlanKey: Plan] = [:]
    private var body = JSONWriter(capacity: 1 << 18)
    /// The current labels of each device, for samples stored without their own (written
    /// before the store kept them); a change drops the plans built on them.
    var currentLabels: [String: Contract.Labels] = [:] {
        didSet { if currentLabels != oldValue { plans = plans.filter { $0.key.labelSet != nil } } }
    }

    /// The next message of a telemetry stream: the samples after `seq` up to `last`, at most
    /// `limit` and (unless a single sample is larger) `maxBytes`. Nil when there is none.
    /// `previousHash` gives the hash before a given sequence number (the link's cache or the store).
    func message(
        site: String, device: String, epoch: String?, sent: Date, reader: StoreReader, after seq: Int64, through last: Int64,
        limit: Int, maxBytes: Int, previousHash: (Int64) throws -> String?
    ) throws -> Message? {
        let stream = StreamName.telemetry(device: device)
        var w = body
        body = JSONWriter(capacity: 0)
        defer {
            w.bytes.removeAll(keepingCapacity: true)
            body = w
        }
        w.bytes.removeAll(keepingCapacity: true)
        var first: Int64?, lastSeq: Int64 = 0, count = 0
        var lastHash: [UInt8]?
        // Room for the message's own fields around the samples.
        let budget = maxBytes - 512 - site.utf8.count - 2 * device.utf8.count
        let rows = try reader.sampleCursor(stream: stream, after: seq, through: last, limit: limit)
        defer { rows.close() }
        while try rows.step() {
            let plan = try plan(layout: rows.layout, labelSet: rows.labelSet, device: device, reader: reader)
            let mark = w.bytes.count
            let rowSeq = rows.seq
            let hash = rows.hash
            Self.writeFields(of: rows, hash: hash, first: count == 0, to: &w)
            let written: Readings
            do {
                written = try Self.writeReadings(rows.readings, plan: plan, to: &w)
            } catch {
                // A damaged row ends the message before it; alone, it is the error.
                guard count > 0 else { throw SampleCodec.DecodeError(description: "sample \(stream) \(rowSeq): \(error)") }
                w.bytes.removeSubrange(mark...)
                break
            }
            guard written.count == plan.keys.count else {
                let problem = "sample \(stream) \(rowSeq): \(written.count) readings for a layout of \(plan.keys.count) parameters"
                guard count > 0 else { throw SampleCodec.DecodeError(description: problem) }
                w.bytes.removeSubrange(mark...)
                break
            }
            Self.writeExceptions(written, plan: plan, to: &w)
            // A message never grows past its budget; a single sample larger than it still goes.
            if count > 0 && w.bytes.count > budget {
                w.bytes.removeSubrange(mark...)
                break
            }
            if first == nil { first = rowSeq }
            lastSeq = rowSeq
            lastHash = hash.map { Array($0) }
            count += 1
        }
        guard let first else { return nil }
        let payload = try Self.envelope(
            samples: w.bytes, first: first, last: lastSeq, site: site, device: device, stream: stream, epoch: epoch, sent: sent,
            previousHash: try previousHash(first))
        return Message(payload: payload, first: first, last: lastSeq, lastHash: lastHash.map { String(decoding: $0, as: UTF8.self) })
    }

    /// A sample's fields before its values, as `Contract.telemetry` writes them.
    @inline(__always)
    private static func writeFields(of rows: StoreReader.SampleCursor, hash: UnsafeRawBufferPointer?, first: Bool, to w: inout JSONWriter) {
        w.bytes.append(contentsOf: first ? Fragment.firstSample : Fragment.nextSample)
        w.signed(rows.seq)
        w.bytes.append(contentsOf: Fragment.time)
        let timeNanoseconds = rows.timeNanoseconds
        w.time(nanoseconds: timeNanoseconds)
        w.bytes.append(contentsOf: Fragment.timeNanoseconds)
        w.signed(timeNanoseconds)
        w.bytes.append(contentsOf: Fragment.cycle)
        w.signed(rows.cycle)
        w.bytes.append(contentsOf: Fragment.batch)
        w.optional(bytes: rows.batch)
        w.bytes.append(contentsOf: Fragment.phase)
        w.optional(bytes: rows.phase)
        w.bytes.append(contentsOf: Fragment.spec)
        w.optional(bytes: rows.spec)
        w.bytes.append(contentsOf: Fragment.hash)
        w.optional(bytes: hash)
    }

    /// What writing a sample's values found: how many, those that also go in `raw`, and those not good.
    private struct Readings {
        var count: Int
        var exact: [(Int, Double)]
        var bad: [(Int, Quality)]
    }

    /// The `values` object of a sample.
    @inline(__always)
    private static func writeReadings(_ readings: UnsafeRawBufferPointer, plan: Plan, to w: inout JSONWriter) throws -> Readings {
        w.bytes.append(contentsOf: Fragment.values)
        var bad: [(Int, Quality)] = []
        var exact: [(Int, Double)] = []
        let count = try SampleCodec.visit(readings) { index, quality, value in
            guard index < plan.keys.count else { return }
            if index > 0 { w.bytes.append(0x2C) }
            w.bytes.append(contentsOf: plan.keys[index])
            switch value {
            case .number(let v):
                // As Contract.telemetry: an enumerated value as its label, a code the
                // enumeration lacks as the number.
                // The code behind a label, and a number JSON cannot spell, go in `raw` too.
                if let labels = plan.labels[index], let label = labels[v] {
                    w.string(label)
                    exact.append((index, v))
                } else {
                    w.number(v)
                    if RawNumber.needsBits(v) { exact.append((index, v)) }
                }
            case .flag(let b): w.bytes.append(contentsOf: b ? Fragment.true : Fragment.false)
            case .text(let t): w.string(bytes: t)
            case .none: w.bytes.append(contentsOf: Fragment.null)
            }
            if quality != .good { bad.append((index, quality)) }
        }
        w.bytes.append(0x7D)
        return Readings(count: count, exact: exact, bad: bad)
    }

    /// The sample's `raw` and `quality` objects where it has any, and its closing brace.
    @inline(__always)
    private static func writeExceptions(_ written: Readings, plan: Plan, to w: inout JSONWriter) {
        if !written.exact.isEmpty {
            w.bytes.append(contentsOf: Fragment.raw)
            for (k, entry) in written.exact.enumerated() {
                if k > 0 { w.bytes.append(0x2C) }
                w.bytes.append(contentsOf: plan.keys[entry.0])
                RawNumber.write(entry.1, to: &w)
            }
            w.bytes.append(0x7D)
        }
        if !written.bad.isEmpty {
            w.bytes.append(contentsOf: Fragment.quality)
            for (k, entry) in written.bad.enumerated() {
                if k > 0 { w.bytes.append(0x2C) }
                w.bytes.append(contentsOf: plan.keys[entry.0])
                w.string(entry.1.rawValue)
            }
            w.bytes.append(0x7D)
        }
        w.bytes.append(0x7D)
    }

    /// The message around its samples.
    private static func envelope(
        samples: [UInt8], first: Int64, last: Int64, site: String, device: String, stream: StreamName, epoch: String?, sent: Date,
        previousHash: String?
    ) throws -> [UInt8] {
        var head = JSONWriter(capacity: samples.count + 512)
        head.raw("{\"seq_first\":")
        head.signed(first)
        head.raw(",\"seq_last\":")
        head.signed(last)
        head.raw(",\"schema\":\"\(Topics.schemaVersion)/telemetry\",\"site\":")
        head.string(site)
        head.raw(",\"epoch\":")
        head.optional(epoch)
        head.raw(",\"previous_hash\":")
        head.optional(previousHash)
        head.raw(",\"device\":")
        head.string(device)
        head.raw(",\"stream\":")
        head.string(stream.description)
        head.raw(",\"sent\":")
        head.time(sent)
        head.raw(",\"samples\":[")
        head.bytes.append(contentsOf: samples)
        head.raw("]}")
        return head.bytes
    }

    private func plan(layout: Int64, labelSet: Int64?, device: String, reader: StoreReader) throws -> Plan {
        let key = PlanKey(layout: layout, labelSet: labelSet)
        if let known = plans[key] { return known }
        let parameters = try reader.parameters(ofLayout: layout)
        let labels: Contract.Labels
        if let set = labelSet {
            labels = try reader.labels(ofSet: set)?.byParameter ?? [:]
        } else {
            labels = currentLabels[device] ?? [:]
        }
        let plan = Plan(
            keys: parameters.map { id in
                var key = JSONWriter(capacity: id.utf8.count + 3)
                key.key(id)
                return key.bytes
            },
            labels: parameters.map { labels.isEmpty ? nil : labels[$0] })
        plans[key] = plan
        return plan
    }
}
