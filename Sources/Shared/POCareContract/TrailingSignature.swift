import Foundation
import Hashing

/// How a signed status and a signed replay request carry their signature: at the end of the
/// JSON object, after any members of the signer's own (`extra`), `"key"` and `"signed_ns"`, and
/// then `"signature"`, the Ed25519 signature of every byte before `,"signature":`.
enum TrailingSignature {
    /// `object` (a JSON object, closing brace last) with the members and the signature appended.
    static func append(
        to object: [UInt8], with key: Ed25519.PrivateKey, at time: Date, extra: (inout JSONWriter) -> Void = { _ in }
    ) throws(Ed25519.Failure) -> [UInt8] {
        var w = JSONWriter(capacity: object.count + 256)
        w.bytes.append(contentsOf: object.dropLast())
        extra(&w)
        w.raw(",\"key\":")
        w.string(try key.publicKey().description)
        w.raw(",\"signed_ns\":")
        w.signed(Int64((time.timeIntervalSince1970 * 1e9).rounded()))
        let signature = try key.sign(w.bytes)
        w.raw(",\"signature\":\"" + Hex.encode(signature) + "\"}")
        return w.bytes
    }
}
