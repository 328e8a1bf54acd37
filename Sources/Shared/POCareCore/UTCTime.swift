import Foundation

/// The one text form of a record's time wherever people and other programs read it: UTC,
/// ISO 8601, milliseconds (`2026-11-25T08:00:00.250Z`).
public enum UTCTime {
    public static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func format(_ date: Date) -> String { date.formatted(style) }

    /// Reads the form above, and also whole seconds without a fraction.
    public static func parse(_ text: String) -> Date? {
        (try? style.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}
