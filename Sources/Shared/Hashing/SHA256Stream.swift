import CCrypto

/// SHA-256 over bytes that arrive in pieces: the same digest as `SHA256.hex` of them all at once.
public struct SHA256Stream {
    private var context = SHA256_CTX()

    public init() {
        let ok = pocare_sha256_init(&context)
        precondition(ok == 1, "libcrypto SHA-256 failed")
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let ok = pocare_sha256_update(&context, bytes.baseAddress, bytes.count)
        precondition(ok == 1, "libcrypto SHA-256 failed")
    }

    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// The digest as 64 lower-case hex digits; the stream is used up.
    public mutating func finalHex() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let ok = pocare_sha256_final(&context, &digest)
        precondition(ok == 1, "libcrypto SHA-256 failed")
        return digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}
