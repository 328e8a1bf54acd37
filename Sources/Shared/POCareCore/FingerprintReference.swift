/// A fingerprint as a person types it: in full (`sha256:` and 64 hex digits), or its first hex
/// digits, at least 12, with or without `sha256:`. A prefix names a fingerprint only where it
/// is unambiguous; shorter ones are refused, so that no command acts on a guess.
public enum FingerprintReference {
    public static let minimumDigits = 12

    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Whether the text is meant as a fingerprint rather than a file name.
    public static func looksLikeFingerprint(_ text: String) -> Bool {
        let digits = text.hasPrefix("sha256:") ? text.dropFirst("sha256:".count) : Substring(text)
        return text.hasPrefix("sha256:") || (!digits.isEmpty && digits.allSatisfy(\.isHexDigit))
    }

    /// The hex digits a reference gives, lower-cased, or why it is not a reference.
    public static func digits(_ text: String) -> Result<String, Refusal> {
        let digits = (text.hasPrefix("sha256:") ? String(text.dropFirst("sha256:".count)) : text).lowercased()
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else {
            return .failure(Refusal("'\(text)' is not a fingerprint: give sha256: and hex digits, or at least \(minimumDigits) hex digits"))
        }
        guard digits.count <= 64 else { return .failure(Refusal("'\(text)' has more than 64 hex digits")) }
        guard digits.count >= minimumDigits else {
            return .failure(Refusal("'\(text)' is too short: give at least \(minimumDigits) hex digits of the fingerprint"))
        }
        return .success(digits)
    }

    /// The one fingerprint among `candidates` (`sha256:` and hex) that the reference names.
    public static func resolve(_ text: String, among candidates: some Sequence<String>) -> Result<String, Refusal> {
        let digits: String
        switch Self.digits(text) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let d): digits = d
        }
        let matches = Set(candidates.filter { $0.hasPrefix("sha256:" + digits) }).sorted()
        switch matches.count {
        case 1: return .success(matches[0])
        case 0: return .failure(Refusal("no spec known here has fingerprint \(text)"))
        default:
            return .failure(Refusal("\(text) matches \(matches.count) specs (\(matches.map { String($0.prefix(7 + 16)) }.joined(separator: ", "))); give more digits"))
        }
    }
}
