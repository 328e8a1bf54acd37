import Foundation
import Hashing

/// A site's status (birth, goodbye, last will) signed with the site's key, so the Control Site
/// takes a status for the site's own only when the site's registered key signed it (docs/mqtt.md,
/// "Signed statuses"). The site adds `key` and `signed_ns` at the end of the status object; the
/// signature covers the message's bytes before `,"signature":`, which closes it:
///
///     {…status fields…,"key":"ed25519:<hex>","signed_ns":N,"signature":"<128 hex digits>"}
public enum SignedStatus {
    public static func sign(_ status: [UInt8], with key: Ed25519.PrivateKey, at time: Date) throws(Ed25519.Failure) -> [UInt8] {
        guard status.last == 0x7D else { return status }
        return try TrailingSignature.append(to: status, with: key, at: time)
    }

    /// A status's signature, if it carries one.
    public struct Signature: Sendable {
        public var key: String
        public var signedNanoseconds: Int64
        public var signedBytes: ArraySlice<UInt8>
        public var signature: [UInt8]

        public func isSigned(by key: Ed25519.PublicKey) -> Bool { key.verifies(signature, of: Array(signedBytes)) }
    }

    public static func signature(of payload: [UInt8]) -> Signature? {
        guard let fields = try? JSONFields(payload),  // an unreadable status carries no signature
            let key = fields.string("key"), let signedNanoseconds = fields.int("signed_ns"),
            let text = fields.string("signature"), let signature = Hex.decode(text), signature.count == 64,
            let end = Checkpoint.lastRange(of: Array(",\"signature\":".utf8), in: payload[...])
        else { return nil }
        return Signature(key: key, signedNanoseconds: signedNanoseconds, signedBytes: payload[..<end], signature: signature)
    }
}
