import Foundation
import Hashing
import POCareCore
import Yams

/// Reads the daemon's site configuration and every device profile it names.
/// The daemon never starts on a configuration with any error in it.
public enum SiteConfigLoader {
    public struct Result: Sendable {
        public var config: SiteConfig?
        public var diagnostics: [Diagnostic]
    }

    static let topKeys = ["site", "profile_dir", "spec_dir", "specs", "personnel", "devices", "store", "control_site", "control", "metrics"]
    static let controlSiteKeys = [
        "broker", "client_id", "mqtt_version", "keepalive", "topic_root", "tls", "credentials_file", "window",
        "telemetry_batch", "identity_key", "checkpoint_interval", "control_site_key", "unsigned_replay",
    ]
    static let storeKeys = [
        "path", "synchronous", "commit_interval", "commit_rows", "retention", "free_space_warning", "free_space_limit",
    ]
    static let deviceKeys = ["id", "profile", "address", "unit_id", "poll_interval", "batch"]
    static let batchKeys = ["id", "spec", "phase", "follow_device_phase"]

    public static func load(path: String) -> Result {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            return Result(config: nil, diagnostics: [
                Diagnostic(file: path, line: 1, column: 1, field: "(file)", message: "cannot read file: \(error.localizedDescription)")
            ])
        }
        return parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) -> Result {
        let collector = DiagnosticCollector(file: file)
        guard let root = collector.compose(text), let top = MappingReader(root, path: "", collector: collector) else {
            return Result(config: nil, diagnostics: collector.diagnostics)
        }
        top.rejectUnknownKeys(allowed: topKeys)
        let site = top.string("site", required: true)
        if let site, !ProfileLoader.isIdentifier(site) {
            collector.error("site", "'\(site)' is not a valid site id: use lower-case letters, digits, '-' and '_'")
        }
        let baseDirectory = URL(fileURLWithPath: file).deletingLastPathComponent()
        let profileDirectory = top.string("profile_dir").map { resolve($0, against: baseDirectory) } ?? baseDirectory
        var devices = DeviceSectionReader(collector: collector, baseDirectory: baseDirectory, profileDirectory: profileDirectory)
        devices.read(top)
        let store = parseStore(top, base: baseDirectory, collector: collector)
        let specDirectories = parseSpecDirectories(top, base: baseDirectory, collector: collector)
        var controlSite: ControlSiteConfig?
        if let reader = top.mappingReader("control_site") {
            controlSite = parseControlSite(reader, site: site ?? "site", base: baseDirectory, collector: collector)
        }
        var requireSpecRelease = true
        if let reader = top.mappingReader("specs") {
            reader.rejectUnknownKeys(allowed: ["require_release"])
            if reader.has("require_release") { requireSpecRelease = reader.bool("require_release") ?? true }
        }
        var allowUnregisteredOperators = false
        if let reader = top.mappingReader("personnel") {
            reader.rejectUnknownKeys(allowed: ["allow_unregistered"])
            if reader.has("allow_unregistered") { allowUnregisteredOperators = reader.bool("allow_unregistered") ?? false }
        }
        let control = parseControlSocket(top, base: baseDirectory)
        let metrics = top.metricsSection()
        let diagnostics = devices.profileDiagnostics + devices.specDiagnostics + collector.diagnostics
        guard !collector.hasErrors, !diagnostics.contains(where: { $0.severity == .error }), let site else {
            return Result(config: nil, diagnostics: diagnostics)
        }
        var config = SiteConfig(siteId: site, devices: devices.devices, store: store, controlSite: controlSite)
        config.control = control
        config.specDirectories = specDirectories
        config.requireSpecRelease = requireSpecRelease
        config.allowUnregisteredOperators = allowUnregisteredOperators
        config.metrics = metrics
        return Result(config: config, diagnostics: diagnostics)
    }

    /// The `store` section (defaults where it is absent).
    static func parseStore(_ top: MappingReader, base: URL, collector: DiagnosticCollector) -> StoreConfig {
        var store = StoreConfig()
        guard let reader = top.mappingReader("store") else { return store }
        reader.rejectUnknownKeys(allowed: storeKeys)
        if let path = reader.string("path") { store.path = resolve(path, against: base).path }
        if let mode = reader.string("synchronous") {
            switch mode.uppercased() {
            case "FULL": store.synchronousFull = true
            case "NORMAL": store.synchronousFull = false
            default: collector.error("store.synchronous", "expected FULL or NORMAL, got '\(mode)'")
            }
        }
        if let interval = reader.duration("commit_interval") {
            if interval < .milliseconds(1) || interval > .seconds(10) {
                collector.error("store.commit_interval", "must be between 1ms and 10s")
            } else {
                store.commitInterval = interval
            }
        }
        if let rows = reader.int("commit_rows", in: 1...100_000) { store.commitRows = rows }
        if let retention = reader.duration("retention") { store.retention = retention }
        for (key, assign) in [("free_space_warning", { store.freeSpaceWarningBytes = $0 }),
                              ("free_space_limit", { (v: Int64) in store.freeSpaceLimitBytes = v })] as [(String, (Int64) -> Void)] {
            guard let text = reader.string(key) else { continue }
            switch ByteSizeText.parse(text) {
            case .success(let bytes): assign(bytes)
            case .failure(let problem): collector.error("store.\(key)", problem.description)
            }
        }
        if store.freeSpaceLimitBytes > store.freeSpaceWarningBytes {
            collector.error("store.free_space_limit", "the hard limit must not be above the warning threshold")
        }
        return store
    }

    /// The folders operators may start batches with specs from (`spec_dir`, one or a list;
    /// default: the configuration's own folder).
    static func parseSpecDirectories(_ top: MappingReader, base: URL, collector: DiagnosticCollector) -> [String] {
        guard top.has("spec_dir") else { return [base.standardizedFileURL.path] }
        let names: [String]
        if case .sequence = top.node("spec_dir") {
            names = (top.sequence("spec_dir") ?? []).enumerated().compactMap { index, node in
                guard let name = node.scalar?.string, !name.isEmpty else {
                    collector.error("spec_dir[\(index)]", at: node.mark, "expected a folder name")
                    return nil
                }
                return name
            }
        } else {
            names = top.string("spec_dir").map { [$0] } ?? []
        }
        let specDirectories = names.map { resolve($0, against: base).standardizedFileURL.path }
        for (index, directory) in specDirectories.enumerated() {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
                collector.error(names.count > 1 ? "spec_dir[\(index)]" : "spec_dir", "'\(directory)' is not a folder")
            }
        }
        return specDirectories
    }

    /// The `control` section: the control socket and who may use it.
    static func parseControlSocket(_ top: MappingReader, base: URL) -> ControlSocketConfig {
        var control = ControlSocketConfig()
        guard let reader = top.mappingReader("control") else { return control }
        reader.rejectUnknownKeys(allowed: ["socket", "group", "require_user"])
        if let path = reader.string("socket") { control.path = resolve(path, against: base).path }
        if reader.has("group") { control.group = reader.string("group") }
        if reader.has("require_user") { control.requireUserForRoot = reader.bool("require_user") ?? false }
        return control
    }

    static func parseControlSite(
        _ reader: MappingReader, site: String, base: URL, collector: DiagnosticCollector
    ) -> ControlSiteConfig? {
        reader.rejectUnknownKeys(allowed: controlSiteKeys)
        guard let url = reader.string("broker", required: true) else { return nil }
        guard let endpoint = parseBrokerURL(url) else {
            collector.error("control_site.broker", "expected mqtt://host:port or mqtts://host:port, got '\(url)'")
            return nil
        }
        var config = ControlSiteConfig(
            brokerURL: url, host: endpoint.host, port: endpoint.port, clientId: reader.string("client_id") ?? "pocare-\(site)")
        parseSession(reader, into: &config, collector: collector)
        if let tls = reader.mappingReader("tls") { parseTLS(tls, into: &config, base: base, collector: collector) }
        if config.brokerURL.hasPrefix("mqtts://") && config.caFile == nil {
            collector.error("control_site.tls.ca_file", "mqtts:// needs tls.ca_file, the CA that signed the broker's certificate")
        }
        parseKeys(reader, into: &config, base: base, collector: collector)
        if let interval = reader.duration("checkpoint_interval") {
            if interval < .seconds(1) || interval > .seconds(60) {
                collector.error("control_site.checkpoint_interval", "must be between 1s and 60s: a checkpoint at least every minute")
            } else {
                config.checkpointInterval = interval
            }
        }
        if let name = reader.string("credentials_file") {
            let path = resolve(name, against: base).path
            switch readCredentials(path) {
            case .success(let credentials):
                config.username = credentials.username
                config.password = credentials.password
            case .failure(let message):
                collector.error("control_site.credentials_file", message)
            }
        }
        return config
    }

    /// The MQTT session: protocol version, keep-alive, topics and the publishing window.
    static func parseSession(_ reader: MappingReader, into config: inout ControlSiteConfig, collector: DiagnosticCollector) {
        if let version = reader.string("mqtt_version") {
            switch version {
            case "3.1.1", "3", "4": config.mqtt5 = false
            case "5", "5.0": config.mqtt5 = true
            default: collector.error("control_site.mqtt_version", "expected 3.1.1 or 5, got '\(version)'")
            }
        }
        if let keepAlive = reader.duration("keepalive") {
            if keepAlive < .seconds(5) || keepAlive > .seconds(3600) {
                collector.error("control_site.keepalive", "must be between 5s and 1h")
            } else {
                config.keepAlive = keepAlive
            }
        }
        if let root = reader.string("topic_root") {
            if root.isEmpty || root.contains("#") || root.contains("+") || root.hasSuffix("/") {
                collector.error("control_site.topic_root", "'\(root)' is not a topic prefix (no wildcards, no trailing '/')")
            } else {
                config.topicRoot = root
            }
        }
        if let window = reader.int("window", in: 1...1000) { config.window = window }
        if let batch = reader.int("telemetry_batch", in: 1...10_000) { config.telemetryBatch = batch }
    }

    /// `control_site.tls`: the broker's CA and the site's client certificate, each readable,
    /// the key by no one else.
    static func parseTLS(_ tls: MappingReader, into config: inout ControlSiteConfig, base: URL, collector: DiagnosticCollector) {
        tls.rejectUnknownKeys(allowed: ["ca_file", "cert_file", "key_file"])
        func file(_ key: String) -> String? {
            guard let name = tls.string(key) else { return nil }
            let path = resolve(name, against: base).path
            if !FileManager.default.isReadableFile(atPath: path) {
                collector.error("control_site.tls.\(key)", "cannot read '\(path)'")
            }
            return path
        }
        config.caFile = file("ca_file")
        config.certFile = file("cert_file")
        config.keyFile = file("key_file")
        if let key = config.keyFile {
            var info = stat()
            if stat(key, &info) == 0 && info.st_mode & 0o007 != 0 {
                collector.error(
                    "control_site.tls.key_file",
                    "'\(key)' can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 '\(key)' (or 640 for the service group)")
            }
        }
        if (config.certFile == nil) != (config.keyFile == nil) {
            collector.error("control_site.tls", "a client certificate needs its key, and a key its certificate")
        }
    }

    /// The site's own key, the Control Site's public key, and whom replays are answered for.
    static func parseKeys(_ reader: MappingReader, into config: inout ControlSiteConfig, base: URL, collector: DiagnosticCollector) {
        if let name = reader.string("identity_key") {
            let path = resolve(name, against: base).path
            switch readIdentityKey(path) {
            case .success: config.identityKeyFile = path
            case .failure(let message): collector.error("control_site.identity_key", message.description)
            }
        }
        if let text = reader.string("control_site_key") {
            if (try? Ed25519.PublicKey(text: text)) != nil {  // the reason is the message below
                config.controlSiteKey = text
            } else {
                collector.error("control_site.control_site_key", "'\(text.prefix(80))' is not an Ed25519 public key (ed25519: and 64 hex digits, from pocare-control identity show)")
            }
        }
        switch reader.string("unsigned_replay") {
        case nil, "refuse": break
        case "answer": config.answerUnsignedReplay = true
        case let other?: collector.error("control_site.unsigned_replay", "expected refuse or answer, got '\(other.prefix(80))'")
        }
    }

    /// Reads the site's Ed25519 private key from a file only its owner can read.
    public static func readIdentityKey(_ path: String) -> Swift.Result<Ed25519.PrivateKey, IdentityKeyError> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(IdentityKeyError("cannot read '\(path)': \(String(cString: strerror(errno)))")) }
        if info.st_mode & 0o077 != 0 {
            return .failure(IdentityKeyError(
                "'\(path)' can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 '\(path)'"))
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            return .failure(IdentityKeyError("cannot read '\(path)': \(error.localizedDescription)"))
        }
        do { return .success(try Ed25519.PrivateKey(pem: text)) } catch {
            return .failure(IdentityKeyError("'\(path)': \(error)"))
        }
    }

    public struct IdentityKeyError: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public enum CredentialsResult {
        case success((username: String, password: String))
        case failure(String)
    }

    /// Reads `username` and `password` from two lines (or `username:password` on one) of a file
    /// that others cannot read; a file others can read is refused.
    public static func readCredentials(_ path: String) -> CredentialsResult {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure("cannot read '\(path)': \(String(cString: strerror(errno)))") }
        if info.st_mode & 0o007 != 0 {
            return .failure(
                "'\(path)' can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 '\(path)' (or 640 for the service group)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return .failure("cannot read '\(path)'") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        if lines.count >= 2 { return .success((lines[0], lines[1])) }
        if let line = lines.first, let colon = line.firstIndex(of: ":") {
            return .success((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        return .failure("'\(path)' must hold the username and the password on two lines, or username:password")
    }

    static func resolve(_ path: String, against base: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path).standardizedFileURL
    }
}

/// Splits `host:port` or `[v6addr]:port`.
public func parseEndpoint(_ text: String) -> (host: String, port: Int)? {
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
        host = text[text.index(after: text.startIndex)..<close]
        portText = text[text.index(close, offsetBy: 2)...]
    } else {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
        if host.contains(":") { return nil }
    }
    guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
    return (String(host), port)
}

/// Splits `mqtt://host:port` or `mqtts://host:port` (default ports 1883 and 8883).
public func parseBrokerURL(_ url: String) -> (host: String, port: Int, secure: Bool)? {
    let secure = url.hasPrefix("mqtts://")
    guard secure || url.hasPrefix("mqtt://") else { return nil }
    let rest = String(url.dropFirst(secure ? 8 : 7).split(separator: "/", maxSplits: 1).first ?? "")
    if let endpoint = parseEndpoint(rest) { return (endpoint.host, endpoint.port, secure) }
    guard !rest.isEmpty, !rest.contains(":") || rest.hasPrefix("[") else { return nil }
    let host = rest.hasPrefix("[") ? String(rest.dropFirst().dropLast()) : rest
    return host.isEmpty ? nil : (host, secure ? 8883 : 1883, secure)
}
