import Foundation
import POCareConfig
import POCareCore

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
    /// Failed sign-ins allowed without a wait per user, and per address, within `loginWindowSeconds`;
    /// beyond them each failure doubles the wait from `loginDelaySeconds`, up to the window.
    public var loginFailuresPerUser = 5
    public var loginFailuresPerAddress = 20
    public var loginWindowSeconds = 900.0
    public var loginDelaySeconds = 2.0
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
    /// A running batch with more samples than this on a device is shown from its minute rollups
    /// (`RunningBatchTrend`) without reading its samples: its record changes while it runs, and
    /// reading it whole would take most of a page's budget on every view.
    public var pageRunningMaxSamples = 500_000
    /// How often the pages' preparer looks for ended batches whose page is not prepared for
    /// their record as it is now (`PreparedBatchReviews`); nil: only a page that ran out of its
    /// budget is prepared. Preparing reads up to `preparedMaxSamples` per device, without a time limit.
    public var prepareIntervalSeconds: Double? = 30
    public var preparedMaxSamples = 50_000_000
    /// The time a signature may take. A signature reads every sample of the batch from the rows
    /// (the hash it binds, the statistics and checks its gate decides on), never what was kept
    /// for the page; for a batch of weeks that is longer than a page may take, so signatures run
    /// on a thread of their own with this budget.
    public var signBudgetSeconds = 3600.0

    public init() {}

    static let keys = [
        "address", "port", "secure_cookies", "session_idle", "session_max", "login_failures_per_user",
        "login_failures_per_address", "login_window", "login_delay", "profiles", "database_threads", "tls", "page_threads", "page_queue",
        "page_budget", "page_max_parameters", "page_max_samples", "page_max_sample_bytes", "page_max_rows", "page_running_max_samples", "prepare_interval",
        "prepared_max_samples", "sign_budget",
    ]

    /// Reads the `web:` section; problems go to the file's diagnostics, located.
    static func parse(_ map: MappingReader) -> WebSettings {
        map.rejectUnknownKeys(allowed: keys)
        var s = WebSettings()
        if let address = map.string("address") {
            if address.isEmpty { map.collector.error(map.fieldPath("address"), "expected an IP address or host name") }
            s.address = address
        }
        s.port = map.int("port", in: 1...65535) ?? s.port
        s.secureCookies = map.bool("secure_cookies") ?? s.secureCookies
        func seconds(_ key: String) -> Double? {
            guard let d = map.duration(key) else { return nil }
            let value = Double(d.nanoseconds) / 1e9
            guard value > 0, value <= 366 * 86400 else {
                map.collector.error(map.fieldPath(key), "expected a duration from 1s to 366d, such as 15m or 12h")
                return nil
            }
            return value
        }
        s.sessionIdleSeconds = seconds("session_idle") ?? s.sessionIdleSeconds
        s.sessionMaxSeconds = seconds("session_max") ?? s.sessionMaxSeconds
        s.loginWindowSeconds = seconds("login_window") ?? s.loginWindowSeconds
        s.loginDelaySeconds = seconds("login_delay") ?? s.loginDelaySeconds
        s.loginFailuresPerUser = map.int("login_failures_per_user", in: 1...1000) ?? s.loginFailuresPerUser
        s.loginFailuresPerAddress = map.int("login_failures_per_address", in: 1...100_000) ?? s.loginFailuresPerAddress
        s.databaseThreads = map.int("database_threads", in: 1...16) ?? s.databaseThreads
        s.pageThreads = map.int("page_threads", in: 1...16) ?? s.pageThreads
        s.pageQueue = map.int("page_queue", in: 0...1000) ?? s.pageQueue
        if let budget = map.duration("page_budget") {
            let value = Double(budget.nanoseconds) / 1e9
            if value >= 0.001 && value <= 3600 { s.pageBudgetSeconds = value } else {
                map.collector.error(map.fieldPath("page_budget"), "expected a duration from 1ms to 1h, such as 20s")
            }
        }
        s.pageMaxParameters = map.int("page_max_parameters", in: 1...1000) ?? s.pageMaxParameters
        s.pageMaxSamples = map.int("page_max_samples", in: 1...100_000_000) ?? s.pageMaxSamples
        s.pageMaxSampleBytes = map.int("page_max_sample_bytes", in: 1024...(64 << 20)) ?? s.pageMaxSampleBytes
        s.pageMaxRows = map.int("page_max_rows", in: 10...1_000_000) ?? s.pageMaxRows
        s.pageRunningMaxSamples = map.int("page_running_max_samples", in: 1...100_000_000) ?? s.pageRunningMaxSamples
        if map.string("prepare_interval") == "off" {
            s.prepareIntervalSeconds = nil
        } else if let interval = seconds("prepare_interval") {
            s.prepareIntervalSeconds = interval
        }
        s.preparedMaxSamples = map.int("prepared_max_samples", in: 1...1_000_000_000) ?? s.preparedMaxSamples
        if let budget = map.duration("sign_budget") {
            let value = Double(budget.nanoseconds) / 1e9
            if value >= 1 && value <= 6 * 3600 { s.signBudgetSeconds = value } else {
                map.collector.error(map.fieldPath("sign_budget"), "expected a duration from 1s to 6h, such as 1h")
            }
        }
        s.profiles = map.string("profiles")
        if let tls = map.mappingReader("tls") {
            tls.rejectUnknownKeys(allowed: ["cert_file", "key_file"])
            let cert = tls.string("cert_file", required: true), key = tls.string("key_file", required: true)
            for (field, path) in [("cert_file", cert), ("key_file", key)] {
                if let path, !FileManager.default.isReadableFile(atPath: path) { tls.collector.error(tls.fieldPath(field), "cannot read \(path)") }
            }
            s.tlsCertificateFile = cert
            s.tlsKeyFile = key
            s.secureCookies = true
        }
        return s
    }
}
