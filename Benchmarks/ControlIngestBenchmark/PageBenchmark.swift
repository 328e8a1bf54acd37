import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Foundation
import Logging
import POCareContract
import POCareCore
import SiteStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The pages a QA reviewer opens, timed over HTTP against today's record store: a synthetic
/// network (sites × devices × days at 1 Hz, one batch per device running the whole time),
/// written through the real ingest as a backlog, then the sites page and one batch's page
/// requested again and again from the real web server.
struct PageBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pages",
        abstract: "Page times (p50, p95) of the sites page and a batch page over a synthetic network.",
        discussion: """
            The network is written through the ingest pipeline (chained samples, every hash recomputed on arrival),
            so the pages read exactly what `pocare-control run` would have stored. Examples:
              pocare-control-bench pages --network 10x10x1     (the sites page with 100 devices)
              pocare-control-bench pages --network 1x1x30      (the page of a 30-day batch)
            A batch page the server cannot read within its budget is prepared by the server's preparer; the time until
            it is shown is printed, and then the page is timed as shown, from what was read for its record.
            """)

    @Option(help: "SITESxDEVICESxDAYS at 1 Hz, one batch per device.") var network = "2x5x1"
    @Option(help: "Requests of each page after its first view (printed apart: it reads what later views find kept).") var requests = 10
    @Option(help: "PostgreSQL connection string of an empty database (default: a temporary cluster).") var database: String?
    @Option(help: "Seconds a page may take before it is refused (web: page_budget); raise it to time a page beyond the default.")
    var pageBudget = WebSettings().pageBudgetSeconds
    @Flag(help: "The database given holds the network already (from an earlier run with --database): only the pages are timed.")
    var loaded = false
    @Flag(help: "The first site's first batch is left running (no end, no site record): its page is shown from its minute rollups.")
    var running = false
    @Flag(help: "Every sample is kept as chunks before the pages are timed, as `run` keeps settled samples after an hour (the compaction is timed).")
    var compacted = false
    @Flag(help: """
        The samples are written straight into chunks with COPY, as ingest and compaction would leave them (for a network of months, \
        beyond what ingest and compaction write in a run); the timed batch is then verified as `pocare-control verify` does. \
        Its batches are named B-DEVICE at every site: time it again with --loaded --direct.
        """)
    var direct = false
    @Flag(inversion: .prefixedNo, help: "Time a comparison's facts of every batch (each batch read whole once: hours on a network of months).")
    var compare = true

    func run() throws {
        var shape = try SyntheticNetwork(parsing: network)
        shape.firstBatchRuns = running
        // Written straight into chunks, a device's batch is made once and copied to every site (`DirectNetworkLoad`).
        shape.batchesNamedBySite = !direct
        guard !(direct && compacted) else { throw ValidationError("--direct writes chunks already; --compacted compacts rows written through ingest") }
        let store = try NetworkDatabase(shape, database: database, loaded: loaded, direct: direct)
        let (info, connection) = (store.info, store.connection)
        if direct && !loaded {
            // The timed batch, written from its samples, and the last site's (its rows copied).
            for s in Set([1, shape.sites]).sorted() {
                try DirectNetworkLoad.verifyBatch(site: shape.site(s), batch: shape.batch(site: s, device: 1), on: connection)
            }
        }
        if compacted {
            // Up to each stream's contiguous number, whatever the samples' time (a synthetic month may reach past today).
            let clock = ContinuousClock(), began = clock.now
            let pass = try SampleCompaction(settledAfter: 0).run(now: .distantFuture, on: connection, logger: Logger(label: "bench"))
            let seconds = Double((clock.now - began).nanoseconds) / 1e9
            try connection.execute("VACUUM samples")
            print("kept as chunks: \(pass.records) samples of \(pass.streams) streams in \(String(format: "%.1f", seconds)) s"
                  + " (\(Int(Double(pass.records) / max(seconds, 0.001))) samples/s)")
        }
        let size = try connection.execute("SELECT pg_database_size(current_database()) AS bytes").int(0, "bytes") ?? 0
        print("database: \(size / 1_048_576) MiB")
        if try WebUsers.find("reviewer", on: connection) == nil {
            try WebUsers.add(userName: "reviewer", fullName: "Page Benchmark", role: .qa, password: Self.password, by: "bench", on: connection)
        }

        // A comparison checks every batch's site record against the batch's samples; the checks are
        // kept per version of the record, so the second comparison reads none of them again.
        let query = BatchFactsQuery(connection: connection, reference: shape.site(1)) { site, batch in
            try BatchRecordDigest.current(site: site, batch: batch, on: connection)
        }
        var compared: [String] = []
        for _ in 0..<(running || !compare ? 0 : 2) {
            let clock = ContinuousClock(), began = clock.now
            let facts = try query.load(spec: SyntheticNetwork.spec, since: nil)
            let elapsed = clock.now - began
            compared.append(String(format: "%.3f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            guard facts.allSatisfy({ $0.record != nil }) else { throw BenchmarkFailure(message: "a batch without its site record") }
            if compared.count == 2 {
                print("comparison facts of \(facts.count) batches (each site record checked against its samples): first \(compared[0])"
                      + (loaded ? " (checks kept by an earlier run are used)" : "") + ", again \(compared[1])")
            }
        }

        // Zoomed in: an hour of the timed batch's first device, from the middle of the batch.
        let batchPage = "/batches/\(shape.site(1))/\(shape.batch(site: 1, device: 1))"
        let middle = SyntheticNetwork.start.addingTimeInterval(Double(shape.days * SyntheticNetwork.perDay / 2))
        let window = "\(batchPage)/window?device=bioreactor-1&from=\(Contract.format(middle))&to=\(Contract.format(middle.addingTimeInterval(3600)))"
        let timings = try Self.measure(info: info, pages: ["/sites", batchPage, window], requests: requests, pageBudget: pageBudget, signs: !running)
        for timing in timings { print(timing.text) }
        withExtendedLifetime(store) {}
    }

    static let password = "page benchmark password"

    struct Timing: Sendable {
        var path: String
        var status: Int
        var bytes: Int
        var seconds: [Double]

        var text: String {
            let sorted = seconds.sorted()
            func at(_ q: Double) -> String { String(format: "%.3f s", sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)]) }
            return "\(path): HTTP \(status), \(bytes) bytes, \(sorted.count) requests: p50 \(at(0.5)), p95 \(at(0.95)), max \(at(1.0))"
        }
    }

    /// Starts the web server on a free loopback port, signs in and times each page. The server
    /// runs on Swift's pool; the client's blocking socket calls stay on this thread.
    static func measure(info: String, pages: [String], requests: Int, pageBudget: Double, signs: Bool = true) throws -> [Timing] {
        var settings = WebSettings()
        settings.port = 0
        settings.pageBudgetSeconds = pageBudget
        let server = ControlSiteWebServer(settings: settings, connectionInfo: info, logger: Logger(label: "bench.web"))
        let port = Mutex(0)
        let serving = Task { try await server.run { bound in port.withLock { $0 = bound } } }
        defer { serving.cancel() }
        let deadline = ContinuousClock.now + .seconds(60)
        while port.withLock({ $0 }) == 0 {
            guard ContinuousClock.now < deadline else { throw BenchmarkFailure(message: "the web server did not start within 60 s") }
            usleep(50_000)
        }
        let client = PageClient(port: port.withLock { $0 })
        try client.signIn(user: "reviewer", password: password)
        var timings: [Timing] = []
        for path in pages {
            // A page the server could not read within its budget is being prepared: timed until it is shown, then timed as shown.
            let clock = ContinuousClock(), asked = clock.now
            var (status, _) = try client.get(path)
            let answered = clock.now - asked
            if status == 503 {
                while status == 503 {
                    sleep(1)
                    (status, _) = try client.get(path)
                }
                let waited = clock.now - asked
                print("\(path): prepared, shown after \(String(format: "%.1f", Double(waited.nanoseconds) / 1e9)) s (HTTP \(status))")
            } else {
                print("\(path): first view \(String(format: "%.3f", Double(answered.nanoseconds) / 1e9)) s (HTTP \(status))")
            }
            var timing = Timing(path: path, status: 0, bytes: 0, seconds: [])
            for round in 0...max(1, requests) {
                let clock = ContinuousClock(), began = clock.now
                let (status, body) = try client.get(path)
                let elapsed = clock.now - began
                timing.status = status
                timing.bytes = body.count
                if round > 0 { timing.seconds.append(Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)) }
                if status != 200 { print("\(path): HTTP \(status): \(String(decoding: body.prefix(400), as: UTF8.self))") }
            }
            timings.append(timing)
        }
        // A QA review's signature reads the batch whole from its rows, whatever was kept for its
        // page. On a database loaded before (`--loaded`) the batch is reviewed already, and the
        // gate refuses a second review only after that reading, so the time is the reading's too.
        if signs, let batchPage = pages.first(where: { $0.hasPrefix("/batches/") && !$0.contains("/window") }) {
            let clock = ContinuousClock(), began = clock.now
            let (status, answer) = try client.sign(batchPage: batchPage, meaning: "reviewed", password: password)
            let seconds = Double((clock.now - began).nanoseconds) / 1e9
            // What the page said, without its markup: the refusal's first words.
            var text = "", inTag = false
            for c in answer { if c == "<" { inTag = true } else if c == ">" { inTag = false; text += " " } else if !inTag { text.append(c) } }
            let words = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let said = words.range(of: "refused").map { String(words[$0.lowerBound...].prefix(200)) } ?? ""
            print("\(batchPage)/sign (QA review, read from the rows): HTTP \(status) after \(String(format: "%.1f", seconds)) s \(said)")
        }
        return timings
    }
}

/// Sites, devices and days of samples at 1 Hz; each device runs one batch for the whole time,
/// which ends with the data.
struct SyntheticNetwork: Sendable {
    /// The spec every synthetic batch names (its fingerprint only: no spec document is held).
    static let spec = "sha256:" + String(repeating: "a", count: 64)
    var sites: Int
    var devices: Int
    var days: Int
    /// The first site's first batch gets no end and no site record: it is running.
    var firstBatchRuns = false

    init(sites: Int, devices: Int, days: Int) {
        self.sites = sites
        self.devices = devices
        self.days = days
    }

    /// `SITESxDEVICESxDAYS`, as `--network` gives it.
    init(parsing text: String) throws {
        let parts = text.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--network is SITESxDEVICESxDAYS, for example 10x10x1") }
        self.init(sites: parts[0], devices: parts[1], days: parts[2])
    }

    func site(_ s: Int) -> String { "site-\(s)" }
    /// `B-SITE-DEVICE`, or `B-DEVICE` at every site when `batchesNamedBySite` is off.
    func batch(site s: Int, device d: Int) -> String { batchesNamedBySite ? "B-\(s)-\(d)" : "B-\(d)" }
    var batchesNamedBySite = true

    static let perDay = 86_400
    static let start = Date(timeIntervalSince1970: 1_795_000_000)
    static let parameters = ["temperature", "ph", "dissolved_oxygen", "co2", "agitation", "glucose", "lactate", "viability"]

    /// Samples `seqs` of a device's batch as its site publishes them: chained from `head`
    /// (which moves to the last one's hash), one telemetry message on its topic.
    func telemetry(site s: Int, device d: Int, seqs: Range<Int>, head: inout String, hasher: inout RecordChain.Hasher) -> (topic: String, payload: [UInt8]) {
        let device = "bioreactor-\(d)"
        let context = SampleContext(batchId: batch(site: s, device: d), phase: "expansion", specFingerprint: SyntheticNetwork.spec)
        let stream = StreamName.telemetry(device: device)
        let samples = seqs.map { seq in
            let values = readings(Self.parameters, seq)
            let ns = (Int64(Self.start.timeIntervalSince1970) + Int64(seq)) * 1_000_000_000
            let previous = head
            head = hasher.sample(
                previous: previous, stream: stream.description, seq: Int64(seq), device: device, timeNanoseconds: ns,
                cycle: Int64(seq), batch: context.batchId, phase: context.phase, spec: context.specFingerprint,
                parameters: values.map(\.parameterId).joined(separator: ","), readings: SampleCodec.encode(values))
            var sample = StoredSample(
                stream: stream, seq: Int64(seq), device: device, time: Date(timeIntervalSince1970: Double(ns) / 1e9),
                cycle: Int64(seq), context: context, readings: values, hash: head, previousHash: previous)
            sample.timeNanoseconds = ns
            return sample
        }
        return ("pocare/v1/\(site(s))/\(device)/telemetry", Contract.telemetry(site: site(s), device: device, samples: samples[...], sent: Self.start))
    }

    /// Each site announces its devices, then its backlog is written through the ingest
    /// pipeline, a day at a time, every device of the network interleaved as sites drain them.
    func load(into info: String, on connection: PostgresConnection, logger: Logger) throws {
        for s in 1...sites {
            try announce(site: site(s), devices: devices, batch: { batch(site: s, device: $0 + 1) }, on: connection, logger: logger)
        }
        let perDay = Self.perDay, perMessage = 200
        var hasher = RecordChain.Hasher()
        var heads = [String](repeating: RecordChain.genesis, count: sites * devices)
        let clock = ContinuousClock(), began = clock.now
        let pipeline = IngestPipeline(database: info, writers: 2, batchMessages: 500, queueCapacity: 4_000, logger: logger)
        for day in 0..<days {
            for first in stride(from: day * perDay + 1, through: (day + 1) * perDay, by: perMessage) {
                for s in 1...sites {
                    for d in 1...devices {
                        let index = (s - 1) * devices + (d - 1)
                        let (topic, payload) = telemetry(site: s, device: d, seqs: first..<min(first + perMessage, (day + 1) * perDay + 1),
                                                         head: &heads[index], hasher: &hasher)
                        while !pipeline.waitForRoom(timeout: 1) {}
                        pipeline.submit(.message(try ContractMessage.parse(topic: topic, payload: payload)))
                    }
                }
            }
            print("day \(day + 1) of \(days) submitted")
        }
        try endBatches(through: pipeline)
        pipeline.close(retryingFor: .seconds(3600))
        pipeline.waitUntilFinished()
        let elapsed = clock.now - began
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // Every sample, and each batch's end and record.
        let stored = pipeline.currentStatistics.inserted, expected = sites * devices * (days * perDay + 2) - (firstBatchRuns ? 2 : 0)
        guard stored == expected else { throw BenchmarkFailure(message: "ingest stored \(stored) of \(expected) records") }
        let samples = sites * devices * days * perDay
        print("network: \(sites) sites × \(devices) devices × \(days) days at 1 Hz = \(samples) samples written through ingest "
              + "in \(Int(seconds)) s (\(Int(Double(samples) / seconds)) samples/s)")
    }

    /// Each device's batch ends with its data, as a site says it: the first events of the device's chained event
    /// stream, its end and then the site's record of the batch (the record a comparison checks against the samples).
    func endBatches(through pipeline: IngestPipeline) throws {
        var hasher = RecordChain.Hasher()
        for s in 1...sites {
            for d in 1...devices where !(firstBatchRuns && s == 1 && d == 1) {
                let device = "bioreactor-\(d)", batch = batch(site: s, device: d), stream = "\(device)/events"
                let ns = (Int64(Self.start.timeIntervalSince1970) + Int64(days * Self.perDay) + 1) * 1_000_000_000
                let spec = SyntheticNetwork.spec
                var report = BatchReport(batch: batch, device: device, spec: spec, started: UTCTime.format(Self.start.addingTimeInterval(1)),
                                         ended: UTCTime.format(Date(timeIntervalSince1970: Double(ns) / 1e9)))
                report.samples = days * Self.perDay
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase  // as a site encodes its record
                encoder.outputFormatting = [.sortedKeys]
                let record = String(decoding: try encoder.encode(report), as: UTF8.self)
                var previous = RecordChain.genesis
                for (seq, kind, body) in [
                    (1, "batch_ended", "{\"kind\":\"batch_ended\",\"reason\":\"run complete\"}"),
                    (2, "batch_record", "{\"kind\":\"batch_record\",\"reason\":\"batch ended\",\"record\":\(record)}"),
                ] {
                    let hash = hasher.event(previous: previous, stream: stream, seq: Int64(seq), device: device, timeNanoseconds: ns,
                                            kind: kind, alarm: nil, batch: batch, phase: "expansion", spec: spec, body: body)
                    let payload = """
                        {"seq":\(seq),"schema":"pocare/v1/event","site":"\(site(s))","device":"\(device)","stream":"\(stream)",\
                        "time":"\(Contract.format(Date(timeIntervalSince1970: Double(ns) / 1e9)))","time_ns":\(ns),\
                        "previous_hash":"\(previous)","hash":"\(hash)","kind":"\(kind)","batch":"\(batch)",\
                        "phase":"expansion","spec":"\(spec)","event":\(body)}
                        """
                    previous = hash
                    while !pipeline.waitForRoom(timeout: 1) {}
                    pipeline.submit(.message(try ContractMessage.parse(topic: "pocare/v1/\(site(s))/\(device)/events", payload: Array(payload.utf8))))
                }
            }
        }
    }
}

/// Just enough of a browser for the pages: the sign-in form's token and cookies, then GETs with
/// the session cookie; one blocking connection per request (`Connection: close`), so the client
/// waits without taking a core from the server it measures.
final class PageClient: Sendable {
    let port: UInt16
    private let cookies = Mutex<[String: String]>([:])

    init(port: Int) { self.port = UInt16(port) }

    func signIn(user: String, password: String) throws {
        let (_, form) = try get("/login")
        let text = String(decoding: form, as: UTF8.self)
        guard let range = text.range(of: "name=\"csrf\" value=\"") else { throw BenchmarkFailure(message: "no token on the sign-in form") }
        let token = String(text[range.upperBound...].prefix(64))
        let body = "user=\(user)&password=\(password.replacingOccurrences(of: " ", with: "+"))&next=%2Fsites&csrf=\(token)"
        let (status, _) = try send("POST", "/login", body: body)
        guard status == 303, cookies.withLock({ $0.count }) > 1 else { throw BenchmarkFailure(message: "sign-in failed: HTTP \(status)") }
    }

    func get(_ path: String) throws -> (Int, [UInt8]) { try send("GET", path, body: nil) }

    /// Posts the signature form of a batch page with the token and record hash the page gives.
    func sign(batchPage path: String, meaning: String, password: String) throws -> (Int, String) {
        let page = String(decoding: try get(path).1, as: UTF8.self)
        func hidden(_ name: String) -> String? {
            page.range(of: "name=\"\(name)\" value=\"").map { String(page[$0.upperBound...].prefix { $0 != "\"" }) }
        }
        guard let token = hidden("csrf"), let hash = hidden("record_hash") else { throw BenchmarkFailure(message: "\(path): no signature form") }
        let body = "csrf=\(token)&meaning=\(meaning)&record_hash=\(hash)&password=\(password.replacingOccurrences(of: " ", with: "+"))"
            + "&comment=page+benchmark"
        let (status, answer) = try send("POST", path + "/sign", body: body)
        return (status, String(decoding: answer, as: UTF8.self))
    }

    private func send(_ method: String, _ path: String, body: String?) throws -> (Int, [UInt8]) {
        let cookie = cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if !cookie.isEmpty { request += "Cookie: \(cookie)\r\n" }
        if let body { request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { request += "\r\n" }
        let answer = try exchange(Array(request.utf8))
        guard let split = answer.indices.first(where: { answer[$0...].starts(with: [13, 10, 13, 10]) }) else {
            throw BenchmarkFailure(message: "\(path): no HTTP answer")
        }
        let head = String(decoding: answer[..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        for line in head.dropFirst() where line.lowercased().hasPrefix("set-cookie:") {
            let pair = line.dropFirst("set-cookie:".count).split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if let eq = pair.firstIndex(of: "=") { cookies.withLock { $0[String(pair[..<eq])] = String(pair[pair.index(after: eq)...]) } }
        }
        var content = Array(answer[(split + 4)...])
        if head.contains(where: { $0.lowercased() == "transfer-encoding: chunked" }) { content = Self.dechunk(content) }
        return (status, content)
    }

    /// Connects to the loopback port, writes the request and reads until the server closes.
    private func exchange(_ request: [UInt8]) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchmarkFailure(message: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw BenchmarkFailure(message: "connect: \(String(cString: strerror(errno)))") }
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw BenchmarkFailure(message: "write: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var answer: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            answer += buffer[..<n]
        }
        return answer
    }

    static func dechunk(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while i < body.count {
            guard let end = body[i...].indices.first(where: { body[$0...].starts(with: [13, 10]) }),
                  let size = Int(String(decoding: body[i..<end], as: UTF8.self), radix: 16), size > 0 else { break }
            out += body[(end + 2)..<min(body.count, end + 2 + size)]
            i = end + 2 + size + 2
        }
        return out
    }
}

/// Where a benchmark's network lives: the database given (loaded already when `loaded`), or a
/// temporary cluster it is written into, kept for as long as this value is.
final class NetworkDatabase {
    let cluster: TemporaryCluster?
    let info: String
    let connection: PostgresConnection

    init(_ shape: SyntheticNetwork, database: String?, loaded: Bool, direct: Bool = false) throws {
        cluster = database == nil ? try TemporaryCluster() : nil
        info = database ?? cluster!.connectionInfo
        connection = try PostgresConnection(info)
        let logger = Logger(label: "bench")
        // A network loaded by an earlier version is brought to this one's schema first.
        try ControlSchema.migrate(connection, logger: logger)
        if !loaded && direct {
            try DirectNetworkLoad(network: shape).load(into: info, on: connection, logger: logger)
        } else if !loaded {
            try shape.load(into: info, on: connection, logger: logger)
        }
    }
}
