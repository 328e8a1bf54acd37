import ControlSiteLink
import Foundation
import POCareConfig
import Yams

/// `control.yaml`: where the broker and the database are, and how this instance subscribes.
public struct ControlConfig: Sendable {
    public var settings: IngestService.Settings
    /// The web pages, when control.yaml has a `web:` section.
    public var web: WebSettings?
    /// The quality system's periods and limits (`qms:`; defaults without it).
    public var quality = QualitySettings()

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    static let keys: Set<String> = [
        "broker", "client_id", "mqtt_version", "shared_group", "tls", "credentials_file", "topic_root", "database",
        "batch_messages", "queue_capacity", "keepalive", "writers", "gap_report_after", "replay_after", "web", "qms",
    ]

    public static func load(path: String) throws(Invalid) -> ControlConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Invalid(description: "\(path): cannot read the file")
        }
        return try parse(text, file: path)
    }

    /// The database connection string alone, for the oversight commands.
    public static func database(path: String) throws(Invalid) -> String {
        try load(path: path).settings.database
    }

    public static func parse(_ text: String, file: String) throws(Invalid) -> ControlConfig {
        func invalid(_ field: String, _ message: String) -> Invalid { Invalid(description: "\(file): \(field): \(message)") }
        let root: [String: Any]
        do {
            guard let loaded = try Yams.load(yaml: text) as? [String: Any] else { throw invalid("(file)", "expected a mapping") }
            root = loaded
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(description: "\(file): \(error)")
        }
        if let unknown = Set(root.keys).subtracting(keys).sorted().first {
            throw invalid(unknown, "unknown key (known: \(keys.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) throws(Invalid) -> String? {
            guard let value = root[key] else { return nil }
            if let s = value as? String { return s }
            if let n = value as? Int { return String(n) }
            if let d = value as? Double { return String(d) }
            throw invalid(key, "expected text")
        }
        guard let brokerURL = try string("broker") else { throw invalid("broker", "required: mqtt://host:port or mqtts://host:port") }
        let clientId = try string("client_id") ?? "pocare-control-\(ProcessInfo.processInfo.hostName)"
        guard var broker = BrokerOptions.parse(url: brokerURL, clientId: clientId) else {
            throw invalid("broker", "expected mqtt://host:port or mqtts://host:port, got '\(brokerURL)'")
        }
        broker.cleanSession = false
        switch try string("mqtt_version") ?? "3.1.1" {
        case "5", "5.0": broker.mqtt5 = true
        case "3.1.1", "3": broker.mqtt5 = false
        case let other: throw invalid("mqtt_version", "expected \"5\" or \"3.1.1\", got '\(other)'")
        }
        if let keepalive = try string("keepalive") {
            guard let d = parseDuration(keepalive) else { throw invalid("keepalive", "'\(keepalive)' is not a duration") }
            broker.keepAlive = d
        }
        if let tls = root["tls"] {
            guard let tls = tls as? [String: Any] else { throw invalid("tls", "expected ca_file, cert_file, key_file") }
            broker.tls = .init(
                caFile: tls["ca_file"] as? String ?? "", certFile: tls["cert_file"] as? String, keyFile: tls["key_file"] as? String)
            if (broker.tls?.certFile == nil) != (broker.tls?.keyFile == nil) {
                throw invalid("tls", "cert_file and key_file go together (mutual TLS)")
            }
        }
        if let credentials = try string("credentials_file") {
            switch SiteConfigLoader.readCredentials(credentials) {
            case .success(let c):
                broker.username = c.username
                broker.password = c.password
            case .failure(let message): throw invalid("credentials_file", message)
            }
        }
        var settings = IngestService.Settings(broker: broker, database: try string("database") ?? "")
        settings.topicRoot = try string("topic_root") ?? settings.topicRoot
        settings.sharedGroup = try string("shared_group")
        if settings.sharedGroup != nil && !broker.mqtt5 {
            throw invalid("shared_group", "shared subscriptions need mqtt_version: \"5\"")
        }
        if let n = root["batch_messages"] {
            guard let n = n as? Int, n > 0 else { throw invalid("batch_messages", "expected a positive number") }
            settings.batchMessages = n
        }
        if let text = try string("gap_report_after") {
            guard let d = parseDuration(text) else { throw invalid("gap_report_after", "'\(text)' is not a duration") }
            settings.gapReportAfter = d
        }
        if root["replay_after"] as? Bool == false {
            settings.replayAfter = nil  // YAML reads `off` as false
        } else if let text = try string("replay_after") {
            if text == "off" {
                settings.replayAfter = nil
            } else {
                guard let d = parseDuration(text), d >= .seconds(1) else {
                    throw invalid("replay_after", "'\(text)' is not a duration of at least 1s (or off)")
                }
                settings.replayAfter = d
            }
        }
        if let n = root["writers"] {
            guard let n = n as? Int, (1...16).contains(n) else { throw invalid("writers", "expected 1 to 16") }
            settings.writers = n
        }
        if let n = root["queue_capacity"] {
            guard let n = n as? Int, n > 0 else { throw invalid("queue_capacity", "expected a positive number") }
            settings.queueCapacity = n
        }
        let web = try root["web"].map { value throws(Invalid) in try WebSettings.parse(value, file: file) }
        var config = ControlConfig(settings: settings, web: web)
        if let qms = root["qms"] { config.quality = try QualitySettings.parse(qms, file: file) }
        return config
    }
}
