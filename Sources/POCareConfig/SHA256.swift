import CCrypto

/// SHA-256 from the system's libcrypto (OpenSSL), so no hash code of our own needs review.
public enum SHA256 {
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = input.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "libcrypto SHA-256 failed")
        return digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
