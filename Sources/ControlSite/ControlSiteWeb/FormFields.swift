import Foundation

/// `application/x-www-form-urlencoded` fields (a POSTed form or a query string). A field
/// named twice keeps its first value; undecodable text is dropped, never guessed at.
struct FormFields: Sendable {
    private var fields: [String: String] = [:]

    init(_ text: String) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.decode(parts[0]), fields[key] == nil else { continue }
            fields[key] = parts.count > 1 ? (Self.decode(parts[1]) ?? "") : ""
        }
    }

    subscript(_ key: String) -> String? { fields[key] }

    private static func decode(_ s: Substring) -> String? {
        s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
