import POCareContract
import Foundation
import Hashing
import MQTT
import POCareConfig
import POCareCore
import Yams

/// `control.yaml`: where the broker and the database are, and how this instance subscribes.
public struct ControlConfig: Sendable {
    public var settings: IngestService.Settings
    /// The web pages, when control.yaml has a `web:` section.
    public var web: WebSettings?
    /// Where Prometheus metrics are served, when control.yaml has a `metrics:` section.
    public var metrics: MetricsConfig?
    /// The quality system's periods and limits (`qms:`; defaults without it).
    public var quality = QualitySettings()

    /// Every problem of the file, each located (`file:line:column: field: message`).
    public struct Invalid: Error, CustomStringConvertible {
        public var diagnostics: [Diagnostic]
        public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
        public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
    }

    static let keys = [
        "broker", "client_id", "mqtt_version", "shared_group", "tls", "credentials_file", "topic_root", "database",
        "batch_messages", "queue_capacity", "keepalive", "writers", "gap_report_after", "replay_after", "compact_after", "compact_every", "web", "metrics", "sites",
        "ingest", "qms", "identity_key",
    ]

    public static func load(path: String) throws(Invalid) -> ControlConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid([Diagnostic(file: path, line: 1, column: 1, field: "(file)", message: "cannot read the file")])
        }
        return try parse(text, file: path)
    }

    /// The database connection string alone, for the oversight commands.
    public static func database(path: String) throws(Invalid) -> String {
        try load(path: path).settings.database
    }

    /// Reads control.yaml; every problem is reported with its line and column, not only the first.
    public static func parse(_ text: String, file: String) throws(Invalid) -> ControlConfig {
        let collector = DiagnosticCollector(file: file)
        guard let node = collector.compose(text), let root = MappingReader(node, path: "", collector: collector) else {
            throw Invalid(collector.diagnostics)
        }
        root.rejectUnknownKeys(allowed: keys)
        var settings = ingestSettings(root)
        // `ingest:` (IngestShare): after `sites:`, whose register it is checked against.
        let share = IngestShare.parse(root, registered: settings?.registeredSites)
        settings?.share = share
        if let limit = root.mappingReader("ingest").flatMap({ SequenceJumpLimit.parse($0) }) { settings?.sequenceJumpLimit = limit }
        if root.string("client_id") == nil, let suffix = share.clientIdSuffix { settings?.broker.clientId += "-" + suffix }
        let web = root.mappingReader("web").map { WebSettings.parse($0) }
        let metrics = root.metricsSection()
        let quality = root.mappingReader("qms").map { QualitySettings.parse($0) }
        guard !collector.hasErrors, let settings else { throw Invalid(collector.diagnostics) }
        var config = ControlConfig(settings: settings, web: web, metrics: metrics)
        config.quality = quality ?? config.quality
        return config
    }

    private static func ingestSettings(_ root: MappingReader) -> IngestService.Settings? {
        let brokerURL = root.string("broker", required: true)
        let clientId = root.string("client_id") ?? "pocare-control-\(ProcessInfo.processInfo.hostName)"
        var broker = brokerURL.flatMap { BrokerOptions.parse(url: $0, clientId: clientId) }
        if let brokerURL, broker == nil {
            root.collector.error(root.fieldPath("broker"), "expected mqtt://host:port or mqtts://host:port, got '\(brokerURL)'")
        }
        broker?.cleanSession = false
        switch root.string("mqtt_version") ?? "3.1.1" {
        case "5", "5.0": broker?.mqtt5 = true
        case "3.1.1", "3": broker?.mqtt5 = false
        case let other: root.collector.error(root.fieldPath("mqtt_version"), "expected \"5\" or \"3.1.1\", got '\(other)'")
        }
        if let keepalive = root.duration("keepalive") { broker?.keepAlive = keepalive }
        if let tls = root.mappingReader("tls") {
            tls.rejectUnknownKeys(allowed: ["ca_file", "cert_file", "key_file"])
            let cert = tls.string("cert_file"), key = tls.string("key_file")
            if (cert == nil) != (key == nil) { root.collector.error(root.fieldPath("tls"), "cert_file and key_file go together (mutual TLS)") }
            broker?.tls = .init(caFile: tls.string("ca_file") ?? "", certFile: cert, keyFile: key)
        }
        if let credentials = root.string("credentials_file") {
            switch SiteConfigLoader.readCredentials(credentials) {
            case .success(let c):
                broker?.username = c.username
                broker?.password = c.password
            case .failure(let message): root.collector.error(root.fieldPath("credentials_file"), message)
            }
        }
        let database = root.string("database", required: true)
        let sharedGroup = root.string("shared_group")
        if sharedGroup != nil, broker?.mqtt5 == false {
            root.collector.error(root.fieldPath("shared_group"), "shared subscriptions need mqtt_version: \"5\"")
        }
        // Every field is read (and so checked) whether or not the required ones were there.
        let topicRoot = root.string("topic_root")
        let batchMessages = root.int("batch_messages", in: 1...100_000)
        let queueCapacity = root.int("queue_capacity", in: 1...10_000_000)
        let writers = root.int("writers", in: 1...16)
        let gapReportAfter = root.duration("gap_report_after")
        let compactAfter = root.duration("compact_after")
        let compactEvery = root.duration("compact_every")
        let replayAfter = replayAfter(root)
        let register = SiteKeyRegister.parse(root)
        let identity = identityKey(root)
        guard let broker, let database else { return nil }
        var settings = IngestService.Settings(broker: broker, database: database)
        settings.topicRoot = topicRoot ?? settings.topicRoot
        settings.sharedGroup = sharedGroup
        settings.batchMessages = batchMessages ?? settings.batchMessages
        settings.queueCapacity = queueCapacity ?? settings.queueCapacity
        settings.writers = writers ?? settings.writers
        settings.gapReportAfter = gapReportAfter ?? settings.gapReportAfter
        settings.compactAfter = compactAfter ?? settings.compactAfter
        settings.compactEvery = compactEvery ?? settings.compactEvery
        if let replayAfter { settings.replayAfter = replayAfter }
        settings.siteKeys = register
        settings.identity = identity
        settings.registeredSites = register.sites.map { Set($0.keys) }
        return settings
    }

    /// `identity_key`: the Control Site's Ed25519 private key file (`pocare-control identity init`),
    /// readable by its owner only; it signs the replay requests.
    private static func identityKey(_ root: MappingReader) -> Ed25519.PrivateKey? {
        guard let path = root.string("identity_key") else { return nil }
        switch SiteConfigLoader.readIdentityKey(path) {
        case .success(let key): return key
        case .failure(let error):
            root.collector.error(root.fieldPath("identity_key"), error.description)
            return nil
        }
    }

    /// `replay_after`: absent (nil, the default stands), `off` (YAML's false: never ask sites to
    /// replay), or a duration of at least 1 s.
    private static func replayAfter(_ root: MappingReader) -> Duration?? {
        guard let text = root.string("replay_after") else { return nil }
        if Bool.parseYAML(text) == false { return .some(nil) }
        guard let after = root.duration("replay_after") else { return nil }
        guard after >= .seconds(1) else {
            root.collector.error(root.fieldPath("replay_after"), "'\(text)' is shorter than 1s (or say off)")
            return nil
        }
        return .some(after)
    }
}
