/// The MQTT contract, version 1: topics and payloads the Control Site can rely on.
/// See docs/mqtt.md and docs/asyncapi.yaml.
public struct Topics: Sendable, Hashable {
    public static let schemaVersion = "pocare/v1"
    public let prefix: String

    public init(site: String, root: String = "pocare/v1") { prefix = "\(root)/\(site)" }

    public var status: String { "\(prefix)/status" }
    public var audit: String { "\(prefix)/audit" }
    public func telemetry(_ device: String) -> String { "\(prefix)/\(device)/telemetry" }
    public func events(_ device: String) -> String { "\(prefix)/\(device)/events" }

    /// The topic a store stream is published on.
    public func topic(for stream: StreamName) -> String { "\(prefix)/\(stream.topicLevels)" }
}
