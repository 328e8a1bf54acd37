import Foundation

/// The enumeration labels of a device's profile, by parameter id and engineering value, as a
/// sample was taken under them. Kept with the sample (one row per distinct set, referenced by
/// id), so a coded value is published with the labels in force when it was polled, not with
/// those of a profile loaded later.
public struct SampleLabels: Sendable, Hashable {
    public let byParameter: [String: [Double: String]]
    /// The stored form: entries sorted by parameter and value, so equal sets share one row.
    public let text: String

    private struct Entry: Codable {
        var parameter: String
        var value: Double
        var label: String
    }

    public init(_ byParameter: [String: [Double: String]]) {
        self.byParameter = byParameter.filter { !$0.value.isEmpty }
        let entries = self.byParameter.flatMap { parameter, labels in
            labels.map { Entry(parameter: parameter, value: $0.key, label: $0.value) }
        }.sorted { ($0.parameter, $0.value) < ($1.parameter, $1.value) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Codes are whole numbers and labels text: encoding cannot fail.
        text = (try? encoder.encode(entries)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// Reads a stored set; nil for text this version cannot read (a damaged row), which a
    /// reader treats as a set it does not know.
    public init?(text: String) {
        guard let entries = try? JSONDecoder().decode([Entry].self, from: Data(text.utf8)) else { return nil }
        var labels: [String: [Double: String]] = [:]
        for entry in entries where entry.value.isFinite { labels[entry.parameter, default: [:]][entry.value] = entry.label }
        self.init(labels)
    }

    public var isEmpty: Bool { byParameter.isEmpty }
}
