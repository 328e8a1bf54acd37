import POCareContract

/// One stored sample as the minute rollups take it: where it falls and its values by parameter.
struct RolledSample {
    /// Milliseconds since 1970, as the contract carries the time.
    var timeMs: Int64
    var batch: String
    var phase: String
    /// Each parameter the sample names, with its number where it holds one read well.
    var values: [(parameter: String, number: Double?)]

    /// The parameters of `values` (a JSON object as stored), less those `quality` names (not read
    /// well): a number is kept, anything else (a label, a flag, null) is counted only. Text that
    /// is not a JSON object names no parameter.
    init(timeMs: Int64, batch: String?, phase: String?, values: ArraySlice<UInt8>, quality: ArraySlice<UInt8>?) {
        self.timeMs = timeMs
        self.batch = batch ?? ""
        self.phase = phase ?? ""
        var notReadWell: Set<ArraySlice<UInt8>> = []
        if let quality { try? JSONFields.forEachMember(quality) { key, _ in notReadWell.insert(key) } }
        var named: [(String, Double?)] = []
        let scanned: Void? = try? JSONFields.forEachMember(values) { key, value in
            guard let name = JSONFields.decodeString(key) else { return }
            var number: Double?
            if !notReadWell.contains(key), let first = value.first,
               first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) {
                number = Double(String(decoding: value, as: UTF8.self)).flatMap { $0.isFinite ? $0 : nil }
            }
            named.append((name, number))
        }
        self.values = scanned == nil ? [] : named
    }

    /// The minute since 1970 the sample falls in (times before 1970 round down as well).
    var minute: Int64 { timeMs >= 0 ? timeMs / 60_000 : (timeMs - 59_999) / 60_000 }
}

/// The rollups one transaction adds, per stream, minute, batch, phase and parameter
/// (`sample_minutes`). A sample is counted by whoever stores it; the interval between two
/// consecutive numbers of a stream is added by whoever stores the second of the two. Samples
/// arriving in any order, in any number of transactions, therefore add up to the same rollups.
struct MinuteRollups {
    /// A number holds until its stream's next record, but never longer than this: a stream that
    /// falls silent for an hour does not weigh its last value by the hour.
    static let holdLimitMs: Int64 = 60_000

    struct Key: Hashable {
        var stream: StreamKey
        var minute: Int64
        var batch: String
        var phase: String
        var parameter: String
    }

    struct Cell {
        var samples = 0
        var n = 0
        var lo: Double?
        var hi: Double?
        var wsum = 0.0
        var held = 0.0
    }

    private(set) var cells: [Key: Cell] = [:]
    var isEmpty: Bool { cells.isEmpty }

    mutating func add(sample: RolledSample, of stream: StreamKey) {
        for (parameter, number) in sample.values {
            let key = Key(stream: stream, minute: sample.minute, batch: sample.batch, phase: sample.phase, parameter: parameter)
            var cell = cells[key] ?? Cell()
            cell.samples += 1
            if let number {
                cell.n += 1
                cell.lo = min(cell.lo ?? number, number)
                cell.hi = max(cell.hi ?? number, number)
            }
            cells[key] = cell
        }
    }

    /// The interval from `sample` to its stream's next record, taken at `nextMs`. Time that goes
    /// back (a clock step) holds for nothing.
    mutating func add(interval sample: RolledSample, until nextMs: Int64, of stream: StreamKey) {
        guard nextMs > sample.timeMs else { return }
        let seconds = Double(min(nextMs - sample.timeMs, Self.holdLimitMs)) / 1000
        for (parameter, number) in sample.values {
            guard let number else { continue }
            let key = Key(stream: stream, minute: sample.minute, batch: sample.batch, phase: sample.phase, parameter: parameter)
            var cell = cells[key] ?? Cell()
            cell.wsum += number * seconds
            cell.held += seconds
            cells[key] = cell
        }
    }

    static let columns = "site, epoch, stream, minute, batch, phase, parameter, samples, n, lo, hi, wsum, held"

    /// The cells as COPY text rows of `columns`.
    func copyRows() -> CopyTextWriter {
        var rows = CopyTextWriter(capacity: cells.count * 160)
        for (key, cell) in cells {
            rows.field(key.stream.site)
            rows.field(key.stream.epoch)
            rows.field(key.stream.stream)
            rows.field(String(key.minute))
            rows.field(key.batch)
            rows.field(key.phase)
            rows.field(key.parameter)
            rows.field(String(cell.samples))
            rows.field(String(cell.n))
            rows.field(cell.lo.map(Self.float8))
            rows.field(cell.hi.map(Self.float8))
            rows.field(Self.float8(cell.wsum))
            rows.field(Self.float8(cell.held))
            rows.endRow()
        }
        return rows
    }

    /// A double as PostgreSQL reads a float8 (a sum of huge numbers may overflow to infinity).
    static func float8(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        return "\(value)"
    }

    /// Adds the staged cells (`minute_delta`) to the stored ones: a minute whose samples arrive
    /// in several transactions is summed, never overwritten.
    static let merge = """
        INSERT INTO sample_minutes AS m (\(columns)) SELECT \(columns) FROM minute_delta
        ON CONFLICT (site, epoch, stream, minute, batch, phase, parameter) DO UPDATE SET
            samples = m.samples + excluded.samples, n = m.n + excluded.n,
            lo = least(m.lo, excluded.lo), hi = greatest(m.hi, excluded.hi),
            wsum = m.wsum + excluded.wsum, held = m.held + excluded.held
        """
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` (the site's form, `IngestWriter.hasSiteTimeForm`) as milliseconds
/// since 1970; nil for anything else.
func siteTimeMilliseconds(_ time: String) -> Int64? {
    let b = Array(time.utf8)
    guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"),
          b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z") else { return nil }
    func number(_ range: Range<Int>) -> Int64? {
        var n: Int64 = 0
        for i in range {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
            n = n * 10 + Int64(b[i] - UInt8(ascii: "0"))
        }
        return n
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
          let minute = number(14..<16), let second = number(17..<19), let ms = number(20..<23),
          (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's days_from_civil).
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146_097 + doe - 719_468
    return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms
}
