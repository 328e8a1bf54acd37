import CCrypto

/// Ed25519 signatures (RFC 8032) from the system's libcrypto: a site signs its checkpoints and
/// its birth with its private key; the Control Site verifies them with the public key QA
/// registered. The keys are held as bytes; libcrypto's key object lives only for one call.
public enum Ed25519 {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// A public key: 32 bytes, written `ed25519:` and 64 lower-case hex digits.
    public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
        public let bytes: [UInt8]

        public init(bytes: [UInt8]) throws(Failure) {
            guard bytes.count == 32 else { throw Failure(description: "an Ed25519 public key is 32 bytes, not \(bytes.count)") }
            self.bytes = bytes
        }

        /// Reads `ed25519:` followed by 64 hex digits.
        public init(text: String) throws(Failure) {
            guard text.hasPrefix("ed25519:"), let bytes = Hex.decode(String(text.dropFirst(8))), bytes.count == 32 else {
                throw Failure(description: "'\(text.prefix(80))' is not an Ed25519 public key (ed25519: and 64 hex digits)")
            }
            self.bytes = bytes
        }

        public var description: String { "ed25519:" + Hex.encode(bytes) }

        /// Whether `signature` is this key's signature of `message`.
        public func verifies(_ signature: [UInt8], of message: [UInt8]) -> Bool {
            guard signature.count == 64,
                let key = bytes.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) })
            else { return false }
            defer { EVP_PKEY_free(key) }
            guard let context = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(context) }
            guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return false }
            return signature.withUnsafeBufferPointer { s in
                message.withUnsafeBufferPointer { m in EVP_DigestVerify(context, s.baseAddress, 64, m.baseAddress, m.count) == 1 }
            }
        }
    }

    /// A private key (its 32-byte seed), kept in a PKCS#8 PEM file as `openssl genpkey -algorithm ed25519` writes it.
    public struct PrivateKey: Sendable {
        private let seed: [UInt8]

        /// A new key from libcrypto's random source.
        public static func generate() throws(Failure) -> PrivateKey {
            guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw Failure(description: "libcrypto has no Ed25519") }
            defer { EVP_PKEY_CTX_free(context) }
            var key: OpaquePointer?
            guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_keygen(context, &key) == 1, let key else {
                throw Failure(description: "libcrypto could not generate an Ed25519 key")
            }
            defer { EVP_PKEY_free(key) }
            var seed = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_private_key(key, &seed, &length) == 1, length == 32 else {
                throw Failure(description: "libcrypto did not give the Ed25519 key's bytes")
            }
            return PrivateKey(seed: seed)
        }

        public init(seed: [UInt8]) { self.seed = seed }

        /// The DER prefix of an Ed25519 PKCS#8 private key (RFC 8410), before its 32-byte seed.
        private static let pkcs8Prefix: [UInt8] = [
            0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ]

        public init(pem: String) throws(Failure) {
            let body = pem.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
            guard pem.contains("-----BEGIN PRIVATE KEY-----"), let der = Base64.decode(body), der.count == 48,
                Array(der.prefix(16)) == Self.pkcs8Prefix
            else { throw Failure(description: "not an Ed25519 private key in PKCS#8 PEM form") }
            seed = Array(der.suffix(32))
        }

        public var pem: String {
            "-----BEGIN PRIVATE KEY-----\n" + Base64.encode(Self.pkcs8Prefix + seed) + "\n-----END PRIVATE KEY-----\n"
        }

        private func withKey<T>(_ body: (OpaquePointer) throws(Failure) -> T) throws(Failure) -> T {
            guard let key = seed.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) })
            else { throw Failure(description: "libcrypto refused the Ed25519 private key") }
            defer { EVP_PKEY_free(key) }
            return try body(key)
        }

        public func publicKey() throws(Failure) -> PublicKey {
            try withKey { key throws(Failure) in
                var bytes = [UInt8](repeating: 0, count: 32)
                var length = 32
                guard EVP_PKEY_get_raw_public_key(key, &bytes, &length) == 1, length == 32 else {
                    throw Failure(description: "libcrypto did not give the Ed25519 public key")
                }
                return try PublicKey(bytes: bytes)
            }
        }

        /// The 64-byte signature of `message`.
        public func sign(_ message: [UInt8]) throws(Failure) -> [UInt8] {
            try withKey { key throws(Failure) in
                guard let context = EVP_MD_CTX_new() else { throw Failure(description: "libcrypto: no digest context") }
                defer { EVP_MD_CTX_free(context) }
                var signature = [UInt8](repeating: 0, count: 64)
                var length = 64
                let ok = message.withUnsafeBufferPointer { m in
                    EVP_DigestSignInit(context, nil, nil, nil, key) == 1
                        && EVP_DigestSign(context, &signature, &length, m.baseAddress, m.count) == 1
                }
                guard ok, length == 64 else { throw Failure(description: "libcrypto could not sign with Ed25519") }
                return signature
            }
        }
    }
}

/// Lower-case hex, for keys and signatures in messages and files.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

/// Base64 through libcrypto's encoder, for the PEM file.
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 4 * ((bytes.count + 2) / 3) + 1)
        let length = EVP_EncodeBlock(&out, bytes, Int32(bytes.count))
        return String(decoding: out.prefix(Int(length)), as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard !input.isEmpty, input.count % 4 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: input.count / 4 * 3)
        let length = EVP_DecodeBlock(&out, input, Int32(input.count))
        guard length >= 0 else { return nil }
        let padding = input.suffix(2).filter { $0 == 0x3D }.count
        return Array(out.prefix(Int(length) - padding))
    }
}
