import ControlSiteRecords
import Foundation
import Hashing
import POCareContract
import POCareCore
import SiteStore
import TestSupport

/// A site's hash chains as its store keeps them, and the site's signing key: a feed that holds
/// one sends records whose hashes the Control Site recomputes on arrival, statuses signed by
/// the site, and checkpoints of its chains' heads (docs/control-site.md, "Signed chain
/// segments"). Copies of a feed share it, so a stream's chain continues from message to message.
final class SiteChains: @unchecked Sendable {  // used from the one thread of a test
    let key: Ed25519.PrivateKey
    let publicKey: Ed25519.PublicKey
    /// The last record sent of each site's stream.
    private var heads: [String: (seq: Int64, hash: String)] = [:]

    init() throws {
        key = try Ed25519.PrivateKey.generate()
        publicKey = try key.publicKey()
    }

    /// The register of a Control Site that knows `signing` by this key and `named` by name alone.
    func register(signing: [String], named: [String] = []) -> SiteKeyRegister {
        var sites = Dictionary(uniqueKeysWithValues: named.map { ($0, [SiteKeyRegister.RegisteredKey]()) })
        for site in signing { sites[site] = [SiteKeyRegister.RegisteredKey(key: publicKey)] }
        return SiteKeyRegister(sites: sites)
    }

    /// The hash record `seq` of the stream names as its predecessor's: the genesis hash for the
    /// first, the last one sent where it is `seq - 1`, else a record never sent.
    func previous(site: String, stream: String, before seq: Int64) -> String {
        if seq == 1 { return RecordChain.genesis }
        if let head = heads["\(site)/\(stream)"], head.seq == seq - 1 { return head.hash }
        return SHA256.hex("\(site) \(stream) \(seq - 1), not sent")
    }

    /// The record last made of the stream (a test that replaces a message made the replacement last).
    func sent(site: String, stream: String, seq: Int64, hash: String) {
        heads["\(site)/\(stream)"] = (seq, hash)
    }

    /// The heads of the site's chains, as a checkpoint names them.
    func heads(of site: String) -> [Checkpoint.Chain] {
        heads.compactMap { key, head in
            key.hasPrefix(site + "/") ? Checkpoint.Chain(stream: String(key.dropFirst(site.count + 1)), seq: head.seq, hash: head.hash) : nil
        }
    }

    static func nanoseconds(_ time: Date) -> Int64 { Int64((time.timeIntervalSince1970 * 1e9).rounded()) }

    /// A sample's hash as the site's store computes it.
    func sampleHash(site: String, _ sample: StoredSample) -> String {
        var hasher = RecordChain.Hasher()
        return hasher.sample(
            previous: sample.previousHash ?? RecordChain.genesis, stream: sample.stream.description, seq: sample.seq, device: sample.device,
            timeNanoseconds: sample.timeNanoseconds ?? 0, cycle: sample.cycle, batch: sample.context.batchId, phase: sample.context.phase,
            spec: sample.context.specFingerprint, parameters: sample.readings.map(\.parameterId).joined(separator: ","),
            readings: SampleCodec.encode(sample.readings))
    }
}

extension SiteFeed {
    /// A checkpoint the site signs of every chain it has sent, on its `site/events` stream.
    func checkpoint(reason: String = "batch_end") throws -> Message {
        guard let chains else { throw TestFailure("a feed without a SiteChains signs nothing") }
        let heads = chains.heads(of: site).filter { $0.stream != "site/events" }
        let seq = (chains.heads(of: site).first { $0.stream == "site/events" }?.seq ?? 0) + 1
        let body = try Checkpoint(site: site, epoch: epoch ?? "", reason: reason, signedNanoseconds: SiteChains.nanoseconds(Date()),
                                  key: chains.publicKey.description, chains: heads).signed(with: chains.key)
        return event("site", seq: seq, kind: Checkpoint.eventKind, body: body)
    }
}
