import ControlSiteLink
import Foundation
import Hashing
import POCareContract

/// A site with its own key, as the tests' site: the register entry a Control Site takes it by,
/// its statuses signed, and checkpoints signed with the key, published as `site/events` records.
struct SignedSite {
    let feed: SiteFeed
    let key: Ed25519.PrivateKey
    let publicKey: String

    init(_ feed: SiteFeed) throws {
        self.feed = feed
        key = try Ed25519.PrivateKey.generate()
        publicKey = try key.publicKey().description
    }

    /// control.yaml's `sites:` with this site and its key.
    var register: String {
        """
        sites:
          \(feed.site):
            keys:
              - { key: "\(publicKey)", valid_from: "2020-01-01T00:00:00Z" }
        """
    }

    /// The site's birth, signed with its key.
    func status(devices: [Contract.DeviceStatus], epoch: String? = nil) throws -> SiteFeed.Message {
        var feed = feed
        feed.epoch = epoch ?? feed.epoch
        let unsigned = feed.status(devices: devices)
        let signed = try SignedStatus.sign(Array(unsigned.payload.utf8), with: key, at: Date())
        return (unsigned.topic, String(decoding: signed, as: UTF8.self))
    }

    /// Checkpoint `seq` of the site's event stream naming `chains`, signed with `signer` (the
    /// site's key unless a test forges one), under `epoch`.
    func checkpoint(seq: Int64, epoch: String, chains: [Checkpoint.Chain], signer: Ed25519.PrivateKey? = nil) throws -> SiteFeed.Message {
        let checkpoint = Checkpoint(site: feed.site, epoch: epoch, reason: "interval",
                                    signedNanoseconds: Int64(Date().timeIntervalSince1970 * 1e9), key: publicKey, chains: chains)
        let body = try checkpoint.signed(with: signer ?? key)
        var event = feed.event("site", seq: seq, kind: Checkpoint.eventKind, body: body)
        // The message's own site field comes before the body, whose signed bytes stay as they are.
        if let first = event.payload.range(of: "\"site\":") {
            event.payload.replaceSubrange(first, with: "\"epoch\":\"\(epoch)\",\"site\":")
        }
        return event
    }
}
