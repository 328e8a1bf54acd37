import Foundation
import POCareConfig

/// The `web:` section of control.yaml: where `pocare-control run` serves the QA/QP pages.
/// Without the section no page is served.
public struct WebSettings: Sendable, Equatable {
    /// Loopback unless set: the pages are meant to sit behind a TLS reverse proxy.
    public var address = "127.0.0.1"
    public var port = 8080
    /// Mark cookies Secure: set when a TLS reverse proxy serves the pages (the browser then
    /// sends them over HTTPS only). Always on when the pages serve TLS themselves.
    public var secureCookies = false
    /// Serve HTTPS natively: the certificate chain and its private key, PEM files.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    public var servesTLS: Bool { tlsCertificateFile != nil }
    /// A session ends after this long without a request, and after `sessionMaxSeconds` whatever its use.
    public var sessionIdleSeconds = 900.0
    public var sessionMaxSeconds = 43_200.0
    /// Failed sign-ins allowed per user, and per address, within `loginWindowSeconds`.
    public var loginFailuresPerUser = 5
    public var loginFailuresPerAddress = 20
    public var loginWindowSeconds = 900.0
    /// Device profiles the released specs are read against, for the limits on the plots.
    public var profiles: String?
    /// Threads (each with a database connection) that answer the pages: sign-in, sessions,
    /// signatures and the lists.
    public var databaseThreads = 2
    /// The pages whose cost grows with the data (a batch, a site, comparability) have threads of
    /// their own, so they never hold up sign-in or the lists: how many, how many may wait
    /// (more are refused at once), and the time each may take, from query to rendered page.
    public var pageThreads = 2
    public var pageQueue = 8
    public var pageBudgetSeconds = 20.0
    /// What one page reads at most: parameters per device, samples per device, the size of one
    /// sample's values (larger ones are counted, not read), and rows of events listed.
    public var pageMaxParameters = 48
    public var pageMaxSamples = 5_000_000
    public var pageMaxSampleBytes = 256 * 1024
    public var pageMaxRows = 5_000

    public init() {}

    static let keys: Set<String> = [
        "address", "port", "secure_cookies", "session_idle", "session_max", "login_failures_per_user",
        "login_failures_per_address", "login_window", "profiles", "database_threads", "tls", "page_threads", "page_queue",
        "page_budget", "page_max_parameters", "page_max_samples", "page_max_sample_bytes", "page_max_rows",
    ]

    static func parse(_ value: Any, file: String) throws(ControlConfig.Invalid) -> WebSettings {
        func invalid(_ field: String, _ message: String) -> ControlConfig.Invalid {
            ControlConfig.Invalid(description: "\(file): web.\(field): \(message)")
        }
        guard let map = value as? [String: Any] else { throw invalid("(section)", "expected a mapping of \(keys.sorted().joined(separator: ", "))") }
        if let unknown = Set(map.keys).subtracting(keys).sorted().first {
            throw invalid(unknown, "unknown key (known: \(keys.sorted().joined(separator: ", ")))")
        }
        var s = WebSettings()
        if let a = map["address"] {
            guard let a = a as? String, !a.isEmpty else { throw invalid("address", "expected an IP address or host name") }
            s.address = a
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(ControlConfig.Invalid) -> Int? {
            guard let v = map[key] else { return nil }
            guard let n = v as? Int, range.contains(n) else { throw invalid(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound)") }
            return n
        }
        func duration(_ key: String, upTo limit: Double = 366 * 86400) throws(ControlConfig.Invalid) -> Double? {
            guard let v = map[key] else { return nil }
            let text = (v as? String) ?? (v as? Int).map(String.init) ?? ""
            let d = parseDuration(text).map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
            guard d >= 0.001, d <= limit else { throw invalid(key, "expected a duration such as 15m, 12h") }
            return d
        }
        s.port = try integer("port", 1...65535) ?? s.port
        if let v = map["secure_cookies"] {
            guard let b = v as? Bool else { throw invalid("secure_cookies", "expected true or false") }
            s.secureCookies = b
        }
        s.sessionIdleSeconds = try duration("session_idle") ?? s.sessionIdleSeconds
        s.sessionMaxSeconds = try duration("session_max") ?? s.sessionMaxSeconds
        s.loginWindowSeconds = try duration("login_window") ?? s.loginWindowSeconds
        s.loginFailuresPerUser = try integer("login_failures_per_user", 1...1000) ?? s.loginFailuresPerUser
        s.loginFailuresPerAddress = try integer("login_failures_per_address", 1...100_000) ?? s.loginFailuresPerAddress
        s.databaseThreads = try integer("database_threads", 1...16) ?? s.databaseThreads
        s.pageThreads = try integer("page_threads", 1...16) ?? s.pageThreads
        s.pageQueue = try integer("page_queue", 0...1000) ?? s.pageQueue
        s.pageBudgetSeconds = try duration("page_budget", upTo: 3600) ?? s.pageBudgetSeconds
        s.pageMaxParameters = try integer("page_max_parameters", 1...1000) ?? s.pageMaxParameters
        s.pageMaxSamples = try integer("page_max_samples", 1...100_000_000) ?? s.pageMaxSamples
        s.pageMaxSampleBytes = try integer("page_max_sample_bytes", 1024...(64 << 20)) ?? s.pageMaxSampleBytes
        s.pageMaxRows = try integer("page_max_rows", 10...1_000_000) ?? s.pageMaxRows
        if let p = map["profiles"] {
            guard let p = p as? String else { throw invalid("profiles", "expected a folder") }
            s.profiles = p
        }
        if let tls = map["tls"] {
            guard let tls = tls as? [String: Any], let cert = tls["cert_file"] as? String, let key = tls["key_file"] as? String,
                  Set(tls.keys) == ["cert_file", "key_file"]
            else { throw invalid("tls", "expected cert_file and key_file (PEM)") }
            for (field, path) in [("tls.cert_file", cert), ("tls.key_file", key)] where !FileManager.default.isReadableFile(atPath: path) {
                throw invalid(field, "cannot read \(path)")
            }
            s.tlsCertificateFile = cert
            s.tlsKeyFile = key
            s.secureCookies = true
        }
        return s
    }
}
