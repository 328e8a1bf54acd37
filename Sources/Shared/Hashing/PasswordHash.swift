import CCrypto

/// Salted, slow password hashes: PBKDF2-HMAC-SHA256 from the system's libcrypto. The stored
/// form carries its own iteration count (`pbkdf2-sha256$ITERATIONS$SALT$HASH`, hex), so the
/// count can be raised later without invalidating existing passwords.
public enum PasswordHash {
    /// OWASP's 2023 figure for PBKDF2-HMAC-SHA256 is 600 000; at least 200 000 is enforced.
    public static let defaultIterations = 600_000
    public static let minimumIterations = 200_000

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    public static func make(_ password: String, iterations: Int = defaultIterations) throws -> String {
        guard iterations >= minimumIterations else {
            throw Refusal(description: "at least \(minimumIterations) iterations are required, got \(iterations)")
        }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let derived = try derive(password, salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(hex(salt))$\(hex(derived))"
    }

    /// Whether `password` matches `stored`; a stored form that cannot be read matches nothing.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let iterations = Int(parts[1]),
              iterations >= 1, iterations <= 100_000_000,
              let salt = bytes(hex: parts[2]), let expected = bytes(hex: parts[3]), expected.count == 32,
              // A stored form whose key cannot be derived matches nothing (false), as documented.
              let derived = try? derive(password, salt: salt, iterations: iterations)
        else { return false }
        // Constant time: every byte compared, whatever the first difference.
        return zip(derived, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    package static func derive(_ password: String, salt: [UInt8], iterations: Int) throws -> [UInt8] {
        let pass = Array(password.utf8)
        var out = [UInt8](repeating: 0, count: 32)
        let ok = pass.withUnsafeBufferPointer { p in
            salt.withUnsafeBufferPointer { s in
                p.withMemoryRebound(to: CChar.self) { pc in
                    PKCS5_PBKDF2_HMAC(pc.baseAddress, Int32(pass.count), s.baseAddress, Int32(salt.count), Int32(iterations),
                                      EVP_sha256(), 32, &out)
                }
            }
        }
        guard ok == 1 else { throw Refusal(description: "libcrypto PBKDF2 failed") }
        return out
    }

    package static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    package static func bytes(hex: Substring) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0, chars.count <= 256 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// A random token for session cookies and CSRF fields: 32 bytes, hex.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
