import CCrypto

/// SHA-256 from the system's libcrypto (OpenSSL), so no hash code of our own needs review;
/// through its low-level interface (`pocare_sha256` in CCrypto), which spares a process the
/// provider machinery of EVP.
public enum SHA256 {
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var digest = [UInt8](repeating: 0, count: 32)
        let ok = input.withUnsafeBytes { raw in pocare_sha256(raw.baseAddress, raw.count, &digest) }
        precondition(ok == 1, "libcrypto SHA-256 failed")
        return digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The digest of a buffer as 64 lower-case hex digits, without intermediate arrays: the
    /// store hashes every record it commits.
    public static func hex(_ buffer: UnsafeRawBufferPointer) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digest in
            let ok = pocare_sha256(buffer.baseAddress, buffer.count, digest.baseAddress)
            precondition(ok == 1, "libcrypto SHA-256 failed")
            return String(unsafeUninitializedCapacity: 64) { text in
                for i in 0..<32 {
                    text[2 * i] = hexDigits[Int(digest[i] >> 4)]
                    text[2 * i + 1] = hexDigits[Int(digest[i] & 0x0F)]
                }
                return 64
            }
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// JSON text written by hand, so that what is hashed never depends on a library's choices
/// (escaping, number format) that could change between versions.
public enum CanonicalJSON {
    public static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    public static func optional(_ s: String?) -> String { s.map(string) ?? "null" }

    public static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    public static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
}
