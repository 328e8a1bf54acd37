import ControlSiteRecords
import Dispatch
import Foundation
import Hashing
import Logging
import POCareContract
import POCareCore
import Synchronization

/// The synthetic network written as ingest and then compaction would leave it, without either:
/// a network of months is 259 million samples, beyond what ingest (about 50,000 a second) and
/// compaction (about 7,000) write within a benchmark run.
///
/// Each device's samples are made and chained as `SyntheticNetwork.load` makes them and read by
/// the contract's parser as ingest reads them; what ingest would store of them is then written
/// with COPY: the samples as chunks (ten minutes a chunk, each record's numbers as reals under the
/// chunk's template where the real gives back the text, as compaction keeps them), the minute
/// rollups, the stream's progress and the batch's run. Each batch's end and site record still go
/// through ingest. The Control Site's own checks judge what was written (`verifyBatch`).
struct DirectNetworkLoad: Sendable {
    var network: SyntheticNetwork
    /// Threads making and writing streams, each with its own connection.
    var workers = 2

    func load(into info: String, on connection: PostgresConnection, logger: Logger) throws {
        for s in 1...network.sites {
            try announce(site: network.site(s), devices: network.devices, batch: { network.batch(site: s, device: $0 + 1) },
                         on: connection, logger: logger)
        }
        let perStream = network.days * SyntheticNetwork.perDay
        let first = SyntheticNetwork.start.addingTimeInterval(1), last = SyntheticNetwork.start.addingTimeInterval(Double(perStream))
        var month = first
        while month <= last {
            try connection.execute("SELECT sample_chunks_month_partition($1::timestamptz)", [UTCTime.format(month)])
            month = Calendar(identifier: .gregorian).date(byAdding: .day, value: 28, to: month) ?? last.addingTimeInterval(1)
        }
        try connection.execute("SELECT sample_chunks_month_partition($1::timestamptz)", [UTCTime.format(last)])

        let clock = ContinuousClock(), began = clock.now
        let done = Atomic(0), failure = Mutex<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            do {
                let own = try PostgresConnection(info)
                for device in stride(from: worker + 1, through: network.devices, by: workers) {
                    guard failure.withLock({ $0 == nil }) else { return }
                    try write(device: device, samples: perStream, on: own)
                    let finished = done.add(1, ordering: .relaxed).newValue
                    let seconds = Double((clock.now - began).nanoseconds) / 1e9
                    print("device \(finished) of \(network.devices) written at \(network.sites) sites "
                          + "(\(Int(Double(finished * network.sites * perStream) / max(seconds, 0.001))) samples/s)")
                    fflush(nil)  // shown as it goes when written to a file too: a network of months takes a quarter of an hour
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        let seconds = Double((clock.now - began).nanoseconds) / 1e9

        let pipeline = IngestPipeline(database: info, writers: 1, batchMessages: 500, queueCapacity: 4_000, logger: logger)
        try network.endBatches(through: pipeline)
        pipeline.close(retryingFor: .seconds(3600))
        pipeline.waitUntilFinished()
        let events = network.sites * network.devices * 2 - (network.firstBatchRuns ? 2 : 0)
        guard pipeline.currentStatistics.inserted == events else {
            throw BenchmarkFailure(message: "ingest stored \(pipeline.currentStatistics.inserted) of \(events) batch events")
        }
        try connection.execute("ANALYZE")
        let samples = network.sites * network.devices * perStream
        print("network: \(network.sites) sites × \(network.devices) devices × \(network.days) days at 1 Hz = \(samples) samples "
              + "written as chunks in \(Int(seconds)) s (\(Int(Double(samples) / seconds)) samples/s)")
    }

    /// One device's whole batch: at the first site, chunks written as they fill, then its
    /// rollups; at every other site the same rows again (a chain does not name its site, and
    /// the synthetic batches are named the same at every site: each site's device runs the
    /// same values); then at every site the stream's progress and the batch's run.
    func write(device d: Int, samples count: Int, on connection: PostgresConnection) throws {
        var hasher = RecordChain.Hasher()
        var head = RecordChain.genesis
        var chunks = ChunkRows(), minutes = MinuteRows()
        var firstTime = "", lastTime = ""
        var key: (site: String, epoch: String, stream: String, device: String)?
        for first in stride(from: 1, through: count, by: 200) {
            let (topic, payload) = network.telemetry(site: 1, device: d, seqs: first..<min(first + 200, count + 1), head: &head, hasher: &hasher)
            guard case .records(let message) = try ContractMessage.parse(topic: topic, payload: payload) else {
                throw BenchmarkFailure(message: "\(topic): not a telemetry message")
            }
            if key == nil { key = (message.site, message.epoch, message.stream, message.device ?? "") }
            for sample in message.samples {
                if firstTime.isEmpty { firstTime = sample.time }
                lastTime = sample.time
                try chunks.add(sample, of: key!)
                try minutes.add(sample, of: key!)
            }
            if chunks.rows.bytes.count > 32 << 20 { try chunks.flush(on: connection) }
        }
        guard let key else { return }
        chunks.close(of: key)
        try chunks.flush(on: connection)
        try minutes.flush(of: key, on: connection)
        let batch = network.batch(site: 1, device: d), spec = SyntheticNetwork.spec
        for s in 1...network.sites {
            let site = network.site(s)
            if s > 1 {
                guard network.batch(site: s, device: d) == batch else { throw BenchmarkFailure(message: "batches named by site cannot be copied") }
                try connection.execute("""
                    INSERT INTO sample_chunks (\(ChunkRows.columns)) SELECT $1, \(ChunkRows.columns.drop { $0 != "," }.dropFirst())
                    FROM sample_chunks WHERE site = $2 AND epoch = $3 AND stream = $4
                    """, [site, key.site, key.epoch, key.stream])
                try connection.execute("""
                    INSERT INTO sample_minutes (\(MinuteRows.columns)) SELECT $1, \(MinuteRows.columns.drop { $0 != "," }.dropFirst())
                    FROM sample_minutes WHERE site = $2 AND epoch = $3 AND stream = $4
                    """, [site, key.site, key.epoch, key.stream])
            }
            // What ingest keeps of the stream and the batch's run, as `saveProgress` and the batch run's upsert leave them
            // (the stream's last record time is the newest of its samples' times and the messages' sent time).
            try connection.execute("""
                INSERT INTO streams (site, epoch, stream, device, kind, contiguous, highest, records, duplicates, last_received, last_record_time,
                                     first_hashed)
                VALUES ($1, $2, $3, $4, 'sample', $5::bigint, $5::bigint, $5::bigint, 0, now(), greatest($6::timestamptz, $7::timestamptz), 1)
                """, [site, key.epoch, key.stream, key.device, String(count), lastTime, UTCTime.format(SyntheticNetwork.start)])
            try connection.execute("""
                INSERT INTO batch_runs (site, device, batch, spec, phase, epoch, stream, first_time, last_time, first_seq, last_seq, samples)
                VALUES ($1, $2, $3, $4, 'expansion', $5, $6, $7::timestamptz, $8::timestamptz, 1, $9::bigint, $9::bigint)
                """, [site, key.device, batch, spec, key.epoch, key.stream, firstTime, lastTime, String(count)])
        }
    }

    /// The measured batch judged by the Control Site's own checks, as `pocare-control verify --site S --batch B` runs
    /// them: every record's hash recomputed from what the chunks give back and linked to its predecessor, what was kept
    /// of the batch's reading read again, and every minute rollup computed again from the samples.
    static func verifyBatch(site: String, batch: String, on connection: PostgresConnection) throws {
        let clock = ContinuousClock(), began = clock.now
        let chains = try StoredRecordProof.verify(site: site, batch: batch, on: connection)
        let rollups = try MinuteRollupCheck.verify(site: site, batch: batch, rebuild: false, on: connection)
        let seconds = Double((clock.now - began).nanoseconds) / 1e9
        for line in chains.lines + rollups.lines { print("verify \(site) \(batch): \(line)") }
        guard chains.intact, rollups.intact, rollups.lines.allSatisfy({ !$0.contains("missing") }) else {
            throw BenchmarkFailure(message: "the network written as chunks does not verify")
        }
        print("verify \(site) \(batch): chains and rollups intact (\(String(format: "%.1f", seconds)) s)")
    }
}

/// A stream's records as `sample_chunks` rows (COPY text), cut where compaction cuts them: at
/// every ten minutes of the records' time and at 1,024 records.
struct ChunkRows {
    static let columns = """
        site, epoch, stream, seq_first, n, time_first, device, batch, phase, spec, first_ns, step_ns, offsets, offsets_ns, cycle_first, cycles, \
        "values", quality, raw, hashes, value_template, value_reals
        """
    private(set) var rows = CopyTextWriter(capacity: 40 << 20)
    private var open: [SampleFields] = []
    private var window: Int64 = .min

    mutating func add(_ sample: SampleFields, of key: (site: String, epoch: String, stream: String, device: String)) throws {
        guard let ms = milliseconds(sample.time) else { throw BenchmarkFailure(message: "\(sample.time): not the site's time form") }
        let tenMinutes = ms >= 0 ? ms / 600_000 : (ms - 599_999) / 600_000
        if tenMinutes != window || open.count == 1024 { close(of: key) }
        window = tenMinutes
        open.append(sample)
    }

    mutating func flush(on connection: PostgresConnection) throws {
        guard rows.rowCount > 0 else { return }
        try connection.copy("COPY sample_chunks (\(Self.columns)) FROM STDIN", data: rows.bytes)
        rows = CopyTextWriter(capacity: 40 << 20)
    }

    /// The open records as one chunk row.
    mutating func close(of key: (site: String, epoch: String, stream: String, device: String)) {
        guard let first = open.first else { return }
        defer { open.removeAll(keepingCapacity: true) }
        let n = open.count
        let firstNs = first.timeNanoseconds ?? 0, lastNs = open.last?.timeNanoseconds ?? 0
        let step = (lastNs - firstNs) / Int64(max(n - 1, 1))
        let cycleFirst = first.cycle ?? 0
        rows.field(key.site)
        rows.field(key.epoch)
        rows.field(key.stream)
        rows.field(String(first.seq))
        rows.field(String(n))
        rows.field(first.time)
        rows.field(key.device)
        rows.field(first.batch)
        rows.field(first.phase)
        rows.field(first.spec)
        rows.field(String(firstNs))
        rows.field(String(step))
        rows.field("{" + open.enumerated().map { i, r in String((r.timeNanoseconds ?? 0) - firstNs - Int64(i) * step) }.joined(separator: ",") + "}")
        rows.field(nil)
        rows.field(String(cycleFirst))
        rows.field("{" + open.enumerated().map { i, r in String((r.cycle ?? 0) - cycleFirst - Int64(i)) }.joined(separator: ",") + "}")
        // Each record's numbers as reals under the template most records share; a record that
        // does not fill it keeps its text.
        let typed = open.map(TypedValues.init)
        let template = typed.compactMap(\.template).reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            .max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        let width = typed.first { $0.template == template }?.reals.count ?? 0
        let texts = zip(open, typed).map { record, values in values.template == template ? nil : String(decoding: record.values, as: UTF8.self) }
        rows.field(texts.allSatisfy { $0 == nil } ? nil : Self.textArray(texts))
        let quality = open.map { $0.quality.map { String(decoding: $0, as: UTF8.self) } }
        rows.field(quality.allSatisfy { $0 == nil } ? nil : Self.textArray(quality))
        let raw = open.map { $0.raw.map { String(decoding: $0, as: UTF8.self) } }
        rows.field(raw.allSatisfy { $0 == nil } ? nil : Self.textArray(raw))
        rows.field("\\x" + (first.previousHash ?? "") + open.map { $0.hash ?? "" }.joined())
        rows.field(template)
        rows.field(template == nil ? nil : "{" + typed.map { values in
            "{" + (values.template == template ? values.reals : Array(repeating: "NULL", count: width)).joined(separator: ",") + "}"
        }.joined(separator: ",") + "}")
        rows.endRow()
    }

    /// A PostgreSQL array literal of texts and NULLs.
    static func textArray(_ texts: [String?]) -> String {
        "{" + texts.map { text in
            text.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" } ?? "NULL"
        }.joined(separator: ",") + "}"
    }
}

/// A record's values as compaction takes them apart: a template (`{"ph":%s,...}`, the keys and
/// whatever is not kept as a real as text, `%` doubled) and the numbers kept as reals, each a
/// plain decimal whose real PostgreSQL writes back as the same text (its shortest decimal).
/// No template when no number is kept so.
struct TypedValues {
    var template: String?
    var reals: [String] = []

    init(_ sample: SampleFields) {
        // `filled`: the template with its numbers put back, which must be the record's text.
        var template = "{", filled = "{", first = true
        var reals: [String] = []
        let scanned: Void? = try? JSONFields.forEachMember(sample.values) { key, value in
            if !first { template += ","; filled += "," }
            first = false
            // As `to_json(key)::text` writes a key (it writes \b and \f where this writes \u0008 and
            // \u000c: such a record's template does not give back its text, and it keeps its text).
            let name = CanonicalJSON.string(JSONFields.decodeString(key) ?? "")
            template += name.replacingOccurrences(of: "%", with: "%%") + ":"
            filled += name + ":"
            let text = String(decoding: value, as: UTF8.self)
            if Self.isExactReal(text) {
                template += "%s"
                reals.append(text)
            } else {
                template += text.replacingOccurrences(of: "%", with: "%%")
            }
            filled += text
        }
        guard scanned != nil, !reals.isEmpty, filled + "}" == String(decoding: sample.values, as: UTF8.self) else { return }
        self.template = template + "}"
        self.reals = reals
    }

    /// Whether `text` is a number that a real keeps exactly: digits, a sign and a point only
    /// (no exponent), and the real's shortest decimal is the same text. Swift's shortest
    /// decimal is PostgreSQL's (`extra_float_digits` above 0) for plain decimals; Swift writes
    /// a whole number with ".0", PostgreSQL without.
    static func isExactReal(_ text: String) -> Bool {
        guard text.count < 38, !text.isEmpty, text.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x2E || (0x30...0x39).contains($0) }),
              let real = Float(text), real.isFinite, real != 0 || text == "0" else { return false }
        var shortest = "\(real)"
        if shortest.hasSuffix(".0") { shortest.removeLast(2) }
        return shortest == text
    }
}

/// A stream's minute rollups (`sample_minutes`) as ingest keeps them: per minute, batch and
/// phase, each parameter's samples, numbers, lowest, highest, and the time-weighted sum of each
/// number held until the next record (at most a minute), counted in the minute of the record
/// that holds it. Records come in number order and their minutes never go back.
struct MinuteRows {
    struct Cell {
        var samples = 0, n = 0
        var lo: Double?, hi: Double?
        var wsum = 0.0, held = 0.0
    }
    struct Record {
        var ms: Int64
        var seq: Int64
        var minute: Int64
        var numbers: [(String, Double?)]
    }

    static let columns = "site, epoch, stream, minute, batch, phase, parameters, samples, n, lo, hi, wsum, held"
    private var rows = CopyTextWriter(capacity: 8 << 20)
    private var minute: (key: Int64, batch: String, phase: String)?
    private var parameters: [String] = []
    private var cells: [Cell] = []
    private var previous: Record?
    private var written = Set<Int64>()

    mutating func add(_ sample: SampleFields, of key: (site: String, epoch: String, stream: String, device: String)) throws {
        guard let ms = milliseconds(sample.time) else { throw BenchmarkFailure(message: "\(sample.time): not the site's time form") }
        var notReadWell = Set<String>()
        if let quality = sample.quality { try JSONFields.forEachMember(quality) { k, _ in notReadWell.insert(JSONFields.decodeString(k) ?? "") } }
        var numbers: [(String, Double?)] = []
        try JSONFields.forEachMember(sample.values) { k, value in
            let name = JSONFields.decodeString(k) ?? ""
            var number: Double?
            if !notReadWell.contains(name), let c = value.first, c == 0x2D || (0x30...0x39).contains(c) {
                number = Double(String(decoding: value, as: UTF8.self)).flatMap { $0.isFinite ? $0 : nil }
            }
            numbers.append((name, number))
        }
        let record = Record(ms: ms, seq: sample.seq, minute: ms >= 0 ? ms / 60_000 : (ms - 59_999) / 60_000, numbers: numbers)
        // The interval the previous record holds, in its own minute (still the open one).
        if let previous, previous.seq + 1 == record.seq, record.ms > previous.ms, previous.numbers.contains(where: { $0.1 != nil }) {
            let seconds = Double(min(record.ms - previous.ms, 60_000)) / 1000
            for (name, number) in previous.numbers {
                guard let number else { continue }
                let i = index(name)
                cells[i].wsum += number * seconds
                cells[i].held += seconds
            }
        }
        let group = (record.minute, sample.batch ?? "", sample.phase ?? "")
        if minute.map({ $0.key != group.0 || $0.batch != group.1 || $0.phase != group.2 }) ?? true {
            try close(of: key)
            guard written.insert(group.0).inserted else { throw BenchmarkFailure(message: "minute \(group.0) of \(key.stream) comes back") }
            minute = group
        }
        for (name, number) in record.numbers {
            let i = index(name)
            cells[i].samples += 1
            if let number {
                cells[i].n += 1
                cells[i].lo = min(cells[i].lo ?? number, number)
                cells[i].hi = max(cells[i].hi ?? number, number)
            }
        }
        previous = record
    }

    private mutating func index(_ name: String) -> Int {
        if let i = parameters.firstIndex(of: name) { return i }
        parameters.append(name)
        cells.append(Cell())
        return cells.count - 1
    }

    private mutating func close(of key: (site: String, epoch: String, stream: String, device: String)) throws {
        guard let minute else { return }
        func array(_ elements: [String]) -> String { "{" + elements.joined(separator: ",") + "}" }
        rows.field(key.site)
        rows.field(key.epoch)
        rows.field(key.stream)
        rows.field(String(minute.key))
        rows.field(minute.batch)
        rows.field(minute.phase)
        rows.field(PostgresArray.text(parameters))
        rows.field(array(cells.map { String($0.samples) }))
        rows.field(array(cells.map { String($0.n) }))
        rows.field(array(cells.map { $0.lo.map { "\($0)" } ?? "NULL" }))
        rows.field(array(cells.map { $0.hi.map { "\($0)" } ?? "NULL" }))
        rows.field(array(cells.map { "\($0.wsum)" }))
        rows.field(array(cells.map { "\($0.held)" }))
        rows.endRow()
        parameters = []
        cells = []
        self.minute = nil
    }

    mutating func flush(of key: (site: String, epoch: String, stream: String, device: String), on connection: PostgresConnection) throws {
        try close(of: key)
        guard rows.rowCount > 0 else { return }
        try connection.copy("COPY sample_minutes (\(Self.columns)) FROM STDIN", data: rows.bytes)
        rows = CopyTextWriter(capacity: 8 << 20)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` as milliseconds since 1970.
private func milliseconds(_ time: String) -> Int64? {
    UTCTime.parse(time).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
}
