import Foundation
import Hashing

/// A replay request signed with the Control Site's key, so a site tells the Control Site's own
/// requests apart by proof rather than by topic: a site cannot see who published an MQTT message,
/// and a broker without the ACL lets anyone publish on `…/replay` (docs/mqtt.md, "Signed replay
/// requests"). The Control Site adds, at the end of the request object, the site it is meant for,
/// its public key, when it signed, and the Ed25519 signature of every byte before
/// `,"signature":`, which closes it:
///
///     {…request fields…,"for_site":"<site>","key":"ed25519:<hex>","signed_ns":N,"signature":"<128 hex digits>"}
///
/// The site named is signed, so a request signed for one site cannot be spent at another. It is
/// `for_site`, not `site`: a consumer of everything under the topic root reads `site` and `epoch`
/// as the sender's, and a request is not the site's message.
public enum SignedReplayRequest {
    /// The fields the signature adds to a request.
    public static let fields: Set<String> = ["for_site", "key", "signed_ns", "signature"]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Signs a request as `ReplayRequest.payload` wrote it, for `site`.
    public static func sign(_ request: [UInt8], site: String, with key: Ed25519.PrivateKey, at time: Date) throws(Failure) -> [UInt8] {
        guard request.last == 0x7D else { throw Failure(description: "a replay request is a JSON object") }
        do { return try sign(object: request, site: site, with: key, at: time) } catch { throw Failure(description: error.description) }
    }

    private static func sign(object request: [UInt8], site: String, with key: Ed25519.PrivateKey, at time: Date) throws(Ed25519.Failure) -> [UInt8] {
        try TrailingSignature.append(to: request, with: key, at: time) { w in
            w.raw(",\"for_site\":")
            w.string(site)
        }
    }

    /// What a signed request claims: who signed it, for which site, when.
    public struct Proof: Sendable {
        public var key: Ed25519.PublicKey
        public var site: String
        public var signedNanoseconds: Int64
        public var signedBytes: [UInt8]
        public var signature: [UInt8]

        /// Whether `key` made this signature (the key the request names is only a claim).
        public func isSigned(by key: Ed25519.PublicKey) -> Bool { key == self.key && key.verifies(signature, of: signedBytes) }
    }

    public enum Reading: Sendable {
        /// No signature fields at all.
        case unsigned
        case signed(Proof)
        /// Some signature fields, but not a readable signature.
        case malformed(String)
    }

    /// The signature a request carries, read without trusting it.
    public static func read(_ payload: [UInt8]) -> Reading {
        // A payload that is not a JSON object is refused by `ReplayRequest.parse` with its reason.
        guard let object = try? JSONFields(payload) else { return .unsigned }
        guard fields.contains(where: object.has) else { return .unsigned }
        // Why a key does not read is said in the reason below.
        guard let keyText = object.string("key"), let key = try? Ed25519.PublicKey(text: keyText) else {
            return .malformed("key must be an Ed25519 public key (ed25519: and 64 hex digits)")
        }
        guard let site = object.string("for_site"), !site.isEmpty, site.utf8.count <= 200 else { return .malformed("for_site must name the site") }
        guard let signedNanoseconds = object.int("signed_ns"), signedNanoseconds > 0 else {
            return .malformed("signed_ns must be a positive whole number of nanoseconds since 1970")
        }
        guard let text = object.string("signature"), let signature = Hex.decode(text), signature.count == 64 else {
            return .malformed("signature must be 128 hex digits")
        }
        guard let end = Checkpoint.lastRange(of: Array(",\"signature\":".utf8), in: payload[...]) else {
            return .malformed("the signature must be the request's last field")
        }
        return .signed(Proof(
            key: key, site: site, signedNanoseconds: signedNanoseconds, signedBytes: Array(payload[..<end]), signature: signature))
    }
}
