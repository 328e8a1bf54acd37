import ControlSiteLink
import Foundation
import Hashing
import POCareContract
import POCareCore

/// What the subscriber does with each message: checks it (store epoch, chain, sequence,
/// fingerprints) and prints it.
extension Subscribe {
    /// Returns true for a message that carried something new.
    func handle(
        topic: String, payload: [UInt8], tracker: inout SequenceTracker, chains: inout ChainTracker, catalog: inout MetadataCatalog
    ) -> Bool {
        // An empty retained message clears a device's metadata that the site no longer has.
        if payload.isEmpty {
            note("\(topic): cleared")
            return false
        }
        // Why a payload does not parse does not matter here: it is reported as not a JSON object.
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            note("\(topic): not a JSON object (\(payload.count) bytes)")
            return false
        }
        let schema = object["schema"] as? String ?? ""
        let site = object["site"] as? String ?? ""
        let epoch = object["epoch"] as? String
        if chains.isFormer(site: site, epoch: epoch) {
            note("record of \(site) from the replaced store \(epoch ?? "") ignored: \(topic)")
            return false
        }
        let previousEpoch = chains.epoch(of: site)
        if let finding = chains.observe(site: site, epoch: epoch) {
            note("\(finding)")
            if let previousEpoch { tracker.restart(streamsWithPrefix: "\(site)/", formerEpoch: previousEpoch) }
        }
        switch schema {
        case "\(Topics.schemaVersion)/meta":
            showMetadata(topic: topic, payload: payload, object, site: site, catalog: &catalog)
            return true
        case "\(Topics.schemaVersion)/spec":
            showSpec(topic: topic, payload: payload, object)
            return true
        case "\(Topics.schemaVersion)/replay_status":
            let request = object["request"] as? [String: Any] ?? [:]
            let reason = (object["reason"] as? String).map { ": \($0)" } ?? ""
            note("replay \(request["id"] ?? "") \(request["stream"] ?? "") \(request["from"] ?? "")...\(request["to"] ?? "") \(object["state"] ?? "?")\(reason)")
            if json { emit(String(decoding: payload, as: UTF8.self)) }
            return true
        default:
            break
        }
        guard let stream = object["stream"] as? String else {
            // The status topic carries no stream: print it as it is.
            emit(json ? String(decoding: payload, as: UTF8.self) : "\(topic) \(object["state"] ?? "?") version=\(object["version"] ?? "?")")
            return true
        }
        return showRecord(stream: stream, payload: payload, object, schema: schema, site: site, tracker: &tracker, chains: &chains, catalog: catalog)
    }

    /// A device's retained metadata: learnt for later telemetry, its fingerprint checked.
    private func showMetadata(topic: String, payload: [UInt8], _ object: [String: Any], site: String, catalog: inout MetadataCatalog) {
        let device = object["device"] as? String ?? ""
        catalog.learn(site: site, device: device, object)
        // The fingerprint covers the bytes after the leading fingerprint field.
        let named = object["fingerprint"] as? String ?? ""
        if let check = Contract.checkMetadata(payload), check.named == check.computed {} else {
            note("metadata on \(topic) does not hash to its fingerprint \(named)")
        }
        emit(json ? String(decoding: payload, as: UTF8.self)
            : "\(topic) profile=\((object["profile"] as? [String: Any])?["id"] ?? "?") parameters=\((object["parameters"] as? [Any])?.count ?? 0) fingerprint=\(object["fingerprint"] ?? "?")")
    }

    /// A released spec: its fingerprint recomputed from the canonical form the message carries.
    private func showSpec(topic: String, payload: [UInt8], _ object: [String: Any]) {
        let canonical = object["canonical"] as? String ?? ""
        let named = object["fingerprint"] as? String ?? ""
        let computed = Contract.specFingerprint(canonical: canonical)
        if computed != named { note("spec \(named) on \(topic): its canonical form hashes to \(computed)") }
        let identity = object["identity"] as? [String: Any] ?? [:]
        emit(json ? String(decoding: payload, as: UTF8.self)
            : "\(topic) \(identity["document"] ?? "?") version \(identity["version"] ?? "?") fingerprint \(computed == named ? "verified" : "MISMATCH")")
    }

    /// A record of a stream: its chain links and sequence numbers checked, duplicates dropped,
    /// gaps reported. Returns false for a duplicate.
    private func showRecord(
        stream: String, payload: [UInt8], _ object: [String: Any], schema: String, site: String,
        tracker: inout SequenceTracker, chains: inout ChainTracker, catalog: MetadataCatalog
    ) -> Bool {
        let first = (object["seq_first"] as? NSNumber ?? object["seq"] as? NSNumber)?.int64Value ?? 0
        let last = (object["seq_last"] as? NSNumber ?? object["seq"] as? NSNumber)?.int64Value ?? 0
        let key = "\(object["site"] ?? "")/\(stream)"
        let before = tracker.missing(in: key)
        for finding in chains.observe(stream: key, records: Self.links(object, first: first)) { note("\(finding)") }
        let observation = tracker.observe(stream: key, first: first, last: last)
        if observation == .duplicate {
            note("duplicate \(stream) \(first)...\(last) dropped")
            if keepDuplicates && json { emit(String(decoding: payload, as: UTF8.self)) }
            return false
        }
        let after = tracker.missing(in: key)
        if after.count > before.count, let gap = after.last { note("gap \(stream) \(gap.lowerBound)...\(gap.upperBound) missing") }
        if json {
            emit(String(decoding: payload, as: UTF8.self))
        } else if schema == "\(Topics.schemaVersion)/telemetry" {
            let samples = object["samples"] as? [[String: Any]] ?? []
            let latest = (samples.last?["values"] as? [String: Any]).map {
                catalog.describe(site: site, device: object["device"] as? String ?? "", values: $0)
            } ?? ""
            emit("\(object["sent"] ?? "") \(stream) \(first)...\(last) \(samples.count) samples \(latest)")
        } else if schema == "\(Topics.schemaVersion)/event", let event = object["event"] as? [String: Any] {
            emit("\(object["time"] ?? "") \(stream) \(first) \(eventSummary(object, event))")
        } else {
            emit("\(object["time"] ?? "") \(stream) \(first) \(object["user"] ?? "") \(object["action"] ?? "") \(object["target"] ?? "")")
        }
        return true
    }

    /// The chain links a record message carries: one per event or audit entry; for telemetry the
    /// message's `previous_hash` precedes its first sample and each sample's `hash` the next.
    static func links(_ object: [String: Any], first: Int64) -> [ChainTracker.Link] {
        guard let samples = object["samples"] as? [[String: Any]] else {
            return [ChainTracker.Link(seq: first, previousHash: object["previous_hash"] as? String, hash: object["hash"] as? String)]
        }
        var previous = object["previous_hash"] as? String
        return samples.map { sample in
            let hash = sample["hash"] as? String
            defer { previous = hash }
            return ChainTracker.Link(seq: (sample["seq"] as? NSNumber)?.int64Value ?? 0, previousHash: previous, hash: hash)
        }
    }
}
