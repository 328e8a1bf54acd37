/// A stream of a site: one telemetry and one event stream per device, one event stream for
/// the site, one audit trail. Each numbers its records; its text is the name in the site store's
/// `streams` table and the topic level under the site's MQTT prefix.
public enum StreamName: Sendable, Hashable, Comparable, CustomStringConvertible {
    case telemetry(device: String)
    case events(device: String)
    case siteEvents
    case audit

    /// Reads a stored name; nil for a name no version of the store writes.
    public init?(_ text: String) {
        switch text {
        case "audit": self = .audit
        case "site/events": self = .siteEvents
        default:
            guard let slash = text.lastIndex(of: "/"), slash != text.startIndex else { return nil }
            let device = String(text[..<slash])
            switch text[text.index(after: slash)...] {
            case "telemetry": self = .telemetry(device: device)
            case "events": self = .events(device: device)
            default: return nil
            }
        }
    }

    public var description: String {
        switch self {
        case .telemetry(let device): "\(device)/telemetry"
        case .events(let device): "\(device)/events"
        case .siteEvents: "site/events"
        case .audit: "audit"
        }
    }

    public var isTelemetry: Bool {
        if case .telemetry = self { true } else { false }
    }

    /// The topic levels under the site's prefix (`pocare/v1/{site}/...`) it is published on.
    public var topicLevels: String { description }

    public static func < (a: StreamName, b: StreamName) -> Bool { a.description < b.description }
}
