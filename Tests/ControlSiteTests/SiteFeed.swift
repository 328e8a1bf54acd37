import ControlSiteRecords
import POCareContract
import ControlSiteLink
import Foundation
import TestSupport
import Hashing
import POCareConfig
import POCareCore
import SiteStore

/// Messages a site publishes under contract v1, encoded by the site's own encoder
/// (`Contract`), so the Control Site is tested against exactly what sites send.
struct SiteFeed {
    var site: String
    var root = "pocare/v1"
    /// Sample n of a device is taken at start + n seconds.
    var start = Date(timeIntervalSince1970: 1_795_000_000)
    /// The site store's epoch the messages state (none: records as the first v1 sent them).
    var epoch: String? = nil
    /// With chains, records carry the hashes the site's store computes and statuses are signed.
    var chains: SiteChains? = nil

    typealias Message = (topic: String, payload: String)

    var topics: Topics { Topics(site: site, root: root) }

    /// Samples `seqs` of `device`, one a second, with the values `values(seq)`; `hashed`: each
    /// carries a chain hash (a stand-in over its device and number) and its predecessor's.
    func telemetry(
        _ device: String, _ seqs: ClosedRange<Int64>, batch: String? = nil, phase: String? = nil, spec: String? = nil, hashed: Bool = false,
        values: (Int64) -> [String: Double] = { _ in ["temperature": 37.0, "ph": 7.2] },
        readings: ((Int64) -> [Reading])? = nil
    ) -> Message {
        func hash(_ seq: Int64) -> String { seq == 0 ? String(repeating: "0", count: 64) : SHA256.hex("\(site) \(device) \(seq)") }
        let samples = seqs.map { seq in
            var sample = StoredSample(
                stream: .telemetry(device: device), seq: seq, device: device, time: start.addingTimeInterval(Double(seq)),
                cycle: seq, context: SampleContext(batchId: batch, phase: phase, specFingerprint: spec),
                readings: readings?(seq)
                    ?? values(seq).sorted { $0.key < $1.key }.map { Reading(parameterId: $0.key, value: .number($0.value), quality: .good) },
                hash: hashed ? hash(seq) : nil, previousHash: hashed ? hash(seq - 1) : nil)
            if let chains {
                let stream = sample.stream.description
                sample.timeNanoseconds = SiteChains.nanoseconds(sample.time)
                sample.previousHash = chains.previous(site: site, stream: stream, before: seq)
                sample.hash = chains.sampleHash(site: site, sample)
                chains.sent(site: site, stream: stream, seq: seq, hash: sample.hash!)
            }
            return sample
        }
        let payload = Contract.telemetry(site: site, device: device, samples: samples[...], sent: start.addingTimeInterval(Double(seqs.upperBound)), epoch: epoch)
        return (topics.telemetry(device), String(decoding: payload, as: UTF8.self))
    }

    /// One event message, shaped as `Contract.event` writes it.
    func event(_ device: String, seq: Int64, kind: String, batch: String? = nil, phase: String? = nil, spec: String? = nil,
               body: String = "{}") -> Message {
        let time = start.addingTimeInterval(Double(seq))
        var chained = ""
        if let chains {
            // The fields the site's chain adds, with the hash its store computes of the event.
            let stream = "\(device)/events", ns = SiteChains.nanoseconds(time)
            let previous = chains.previous(site: site, stream: stream, before: seq)
            var hasher = RecordChain.Hasher()
            let hash = hasher.event(previous: previous, stream: stream, seq: seq, device: device, timeNanoseconds: ns, kind: kind, alarm: nil,
                                    batch: batch, phase: phase, spec: spec, body: body)
            chains.sent(site: site, stream: stream, seq: seq, hash: hash)
            chained = "\"time_ns\":\(ns),\"previous_hash\":\"\(previous)\",\"hash\":\"\(hash)\","
        }
        let payload = """
            {"seq":\(seq),"schema":"pocare/v1/event","site":"\(site)","device":"\(device)","stream":"\(device)/events",\
            "time":"\(Contract.format(time))",\(chained)"kind":"\(kind)",\
            "batch":\(batch.map { "\"\($0)\"" } ?? "null"),"phase":\(phase.map { "\"\($0)\"" } ?? "null"),\
            "spec":\(spec.map { "\"\($0)\"" } ?? "null"),"event":\(body)}
            """
        return (topics.events(device), payload)
    }

    /// Audit entries 1...count, chained as the site store chains them.
    func audit(_ count: Int64) -> [Message] {
        var previous = String(repeating: "0", count: 64)
        return (1...count).map { seq in
            let action = AuditAction(user: "operator", action: "alarm.acknowledge", target: "A-\(seq)", reason: "checked")
            let ns = Int64(start.timeIntervalSince1970 * 1e9) + seq
            let hash = AuditEntry.hash(seq: seq, timeNanoseconds: ns, action: action, previousHash: previous)
            let entry = AuditEntry(seq: seq, time: start.addingTimeInterval(Double(seq)), timeNanoseconds: ns, action: action,
                                   previousHash: previous, hash: hash)
            previous = hash
            return (topics.audit, String(decoding: Contract.audit(site: site, entry: entry), as: UTF8.self))
        }
    }

    func status(online: Bool = true, devices: [Contract.DeviceStatus]) -> Message {
        let payload = Contract.status(site: site, online: online, time: start, devices: devices, epoch: epoch)
        // A feed with chains speaks as a site with a registered key: its statuses are signed.
        let signed = chains.flatMap { try? SignedStatus.sign(payload, with: $0.key, at: start) } ?? payload
        return (topics.status, String(decoding: signed, as: UTF8.self))
    }

    /// A device's retained metadata for a shipped profile, as the site's encoder writes it.
    func metadata(_ device: String, profile: String) throws -> Message {
        let loaded = ProfileLoader.load(path: shippedProfiles + "/\(profile).yaml")
        guard let profile = loaded.profile else { throw TestFailure("profile \(profile): \(loaded.diagnostics)") }
        let source = Contract.DeviceMetadata(device: device, profile: profile, profileFingerprint: ProfileFingerprint.of(profile))
        return (topics.metadata(device), String(decoding: source.message(site: site).payload, as: UTF8.self))
    }

    /// The example spec, retained under its fingerprint as the site publishes it.
    func exampleSpecDocument() throws -> (message: Message, fingerprint: String) {
        let loaded = SpecLoader.load(path: exampleSpec, profiles: SpecLoader.profileCatalogue(directory: shippedProfiles))
        guard let spec = loaded.spec else { throw TestFailure("example spec: \(loaded.diagnostics)") }
        return ((topics.spec(spec.fingerprint), String(decoding: Contract.spec(site: site, spec: spec), as: UTF8.self)), spec.fingerprint)
    }

    func lastWill() -> Message { (topics.status, String(decoding: Contract.offline(site: site), as: UTF8.self)) }
}

extension ContractMessage {
    /// Parses a test message, failing the test on a parse error.
    static func of(_ message: SiteFeed.Message) throws -> ContractMessage {
        try ContractMessage.parse(topic: message.topic, payload: Array(message.payload.utf8))
    }
}
