import POCareContract
import POCareCore

/// One stored sample as the minute rollups take it: where it falls and its values by parameter.
struct RolledSample {
    /// Milliseconds since 1970, as the contract carries the time.
    var timeMs: Int64
    var batch: String
    var phase: String
    /// Each parameter the sample names, in order; a stream's samples mostly share one list.
    var parameters: [String]
    /// Beside each parameter, its value as read, a number only where it was read well. For a
    /// fresh sample, the very list its message's reader made (`SampleFields.readValues`), shared.
    private var values: [Value?]

    /// The number of the parameter at `position`, where it holds one read well.
    @inline(__always)
    func number(at position: Int) -> Double? {
        if case .number(let number)? = values[position] { number } else { nil }
    }

    /// Beside each parameter, its number where it holds one read well.
    var numbers: [Double?] { values.indices.map(number(at:)) }

    var holdsANumber: Bool { values.indices.contains { number(at: $0) != nil } }

    /// The parameters of `values` (a JSON object as stored), less those `quality` names (not read
    /// well): a number is kept, anything else (a label, a flag, null) is counted only. Text that
    /// is not a JSON object names no parameter.
    /// `previous`: the stream's sample before, whose names are taken where the keys are the same
    /// bytes (a stream's samples mostly name the same parameters in the same order), so names are
    /// neither made again nor compared by content later.
    init(timeMs: Int64, batch: String?, phase: String?, values: ArraySlice<UInt8>, quality: ArraySlice<UInt8>?, previous: RolledSample? = nil) {
        self.timeMs = timeMs
        (self.batch, self.phase) = Self.labels(batch, phase, previous)
        var notReadWell: Set<ArraySlice<UInt8>> = []
        if let quality { try? JSONFields.forEachMember(quality) { key, _ in notReadWell.insert(key) } }
        let earlier = previous?.parameters ?? []
        var parameters: [String] = []
        var numbers: [Value?] = []
        parameters.reserveCapacity(earlier.count)
        numbers.reserveCapacity(earlier.count)
        let scanned: Void? = try? JSONFields.forEachMember(values) { key, value in
            let name: String
            let position = numbers.count
            if position < earlier.count, JSONFields.spells(key, earlier[position]) {
                name = earlier[position]
            } else if key.count >= 2 && !key.contains(UInt8(ascii: "\\")) {
                // A key without escapes is its bytes between the quotes (most are).
                name = String(decoding: key.dropFirst().dropLast(), as: UTF8.self)
            } else if let decoded = JSONFields.decodeString(key) {
                name = decoded
            } else {
                return
            }
            parameters.append(name)
            var number: Double?
            if !notReadWell.contains(key), let first = value.first,
               first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) {
                number = JSONNumber.double(value).flatMap { $0.isFinite ? $0 : nil }
            }
            numbers.append(number.map(Value.number))
        }
        self.parameters = scanned == nil ? [] : parameters
        self.values = scanned == nil ? [] : numbers
    }

    /// A fresh sample, whose values the message's reader read already (`SampleFields.readValues`):
    /// the same as reading its bytes, without reading them again. Read from the bytes where it
    /// was not read so, or its quality names values not read well.
    init(timeMs: Int64, fresh sample: SampleFields, previous: RolledSample? = nil) {
        guard sample.quality == nil, let read = sample.readValues, read.count == sample.parameters.count else {
            self.init(timeMs: timeMs, batch: sample.batch, phase: sample.phase, values: sample.values, quality: sample.quality, previous: previous)
            return
        }
        let (batch, phase) = Self.labels(sample.batch, sample.phase, previous)
        // The list itself, not a list of its numbers made for each sample: only numbers count (`number(at:)`).
        self.init(timeMs: timeMs, batch: batch, phase: phase, parameters: sample.parameters, values: read)
    }

    private init(timeMs: Int64, batch: String, phase: String, parameters: [String], values: [Value?]) {
        self.timeMs = timeMs
        self.batch = batch
        self.phase = phase
        self.parameters = parameters
        self.values = values
    }

    /// The batch and phase, "" for none; the previous sample's strings where equal, so they are shared.
    private static func labels(_ batch: String?, _ phase: String?, _ previous: RolledSample?) -> (String, String) {
        guard let previous else { return (batch ?? "", phase ?? "") }
        return (previous.batch == (batch ?? "") ? previous.batch : (batch ?? ""), previous.phase == (phase ?? "") ? previous.phase : (phase ?? ""))
    }

    /// The minute since 1970 the sample falls in (times before 1970 round down as well).
    var minute: Int64 { timeMs >= 0 ? timeMs / 60_000 : (timeMs - 59_999) / 60_000 }
}

/// The rollups one transaction adds, per stream, minute, batch and phase, with a cell per
/// parameter (`sample_minutes`). A sample is counted by whoever stores it; the interval between
/// two consecutive numbers of a stream is added by whoever stores the second of the two. Samples
/// arriving in any order, in any number of transactions, therefore add up to the same rollups.
struct MinuteRollups {
    /// A number holds until its stream's next record, but never longer than this: a stream that
    /// falls silent for an hour does not weigh its last value by the hour.
    static let holdLimitMs: Int64 = 60_000

    struct GroupKey: Hashable {
        var stream: StreamKey
        var minute: Int64
        var batch: String
        var phase: String
    }

    struct Cell: Equatable {
        var samples = 0
        var n = 0
        var lo: Double?
        var hi: Double?
        var wsum = 0.0
        var held = 0.0

        /// One sample of the parameter: `number` where it holds one read well.
        @inline(__always)
        mutating func count(_ number: Double?) {
            samples += 1
            guard let number else { return }
            n += 1
            lo = min(lo ?? number, number)
            hi = max(hi ?? number, number)
        }

        /// Another part of the same minute's cell (stored, or from another transaction).
        mutating func merge(_ other: Cell) {
            samples += other.samples
            n += other.n
            lo = [lo, other.lo].compactMap { $0 }.min()
            hi = [hi, other.hi].compactMap { $0 }.max()
            wsum += other.wsum
            held += other.held
        }
    }

    /// A minute's cells, by parameter in the order first met (a handful: found by a scan).
    struct Group {
        var parameters: [String] = []
        var cells: [Cell] = []

        /// `hint`: where the parameter stands in the sample, mostly where it stands here too.
        mutating func index(_ parameter: String, hint: Int = -1) -> Int {
            if hint >= 0 && hint < parameters.count && parameters[hint] == parameter { return hint }
            if let i = parameters.firstIndex(of: parameter) { return i }
            parameters.append(parameter)
            cells.append(Cell())
            return parameters.count - 1
        }

        /// Whether `list` names this group's parameters in the same order, so that a sample's
        /// position is its cell. A stream's samples mostly share one list, compared here by
        /// identity; an equal list met for the first time is compared by content and then kept
        /// in place of the group's own, so the samples after it are compared by identity again.
        mutating func isOrdered(as list: [String]) -> Bool {
            let identical = parameters.withUnsafeBufferPointer { mine in
                list.withUnsafeBufferPointer { $0.baseAddress == mine.baseAddress && $0.count == mine.count }
            }
            if identical { return true }
            guard parameters == list else { return false }
            parameters = list
            return true
        }

        mutating func merge(_ other: Group) {
            for (parameter, cell) in zip(other.parameters, other.cells) { cells[index(parameter)].merge(cell) }
        }
    }

    private(set) var groups: [GroupKey: Group] = [:]
    var isEmpty: Bool { groups.isEmpty && currentKey == nil }

    /// Consecutive samples of a stream mostly fall in the same minute, batch and phase: the group
    /// last touched is kept aside, so most samples are added without hashing their key.
    private var currentKey: GroupKey?
    private var currentGroup = Group()

    /// The group of `sample`'s minute, batch and phase on `stream`. The group kept aside is
    /// compared field by field, in place: a key of five strings made for every sample cost more
    /// in reference counting than adding the sample.
    private mutating func withGroup(_ stream: StreamKey, _ sample: borrowing RolledSample, _ body: (inout Group) -> Void) {
        let minute = sample.minute
        if !(currentKey?.minute == minute && currentKey?.batch == sample.batch && currentKey?.phase == sample.phase
             && currentKey?.stream == stream) {
            let key = GroupKey(stream: stream, minute: minute, batch: sample.batch, phase: sample.phase)
            if let currentKey { groups[currentKey] = currentGroup }
            currentGroup = groups.removeValue(forKey: key) ?? Group()
            currentKey = key
        }
        body(&currentGroup)
    }

    /// Every group, the one kept aside included.
    mutating func settle() {
        if let currentKey { groups[currentKey] = currentGroup }
        currentKey = nil
        currentGroup = Group()
    }

    mutating func add(sample: borrowing RolledSample, of stream: StreamKey) {
        withGroup(stream, sample) { group in
            if group.isOrdered(as: sample.parameters) {
                for position in sample.parameters.indices { group.cells[position].count(sample.number(at: position)) }
                return
            }
            for position in sample.parameters.indices {
                group.cells[group.index(sample.parameters[position], hint: position)].count(sample.number(at: position))
            }
        }
    }

    /// The interval from `sample` to its stream's next record, taken at `nextMs`. Time that goes
    /// back (a clock step) holds for nothing.
    mutating func add(interval sample: borrowing RolledSample, until nextMs: Int64, of stream: StreamKey) {
        guard nextMs > sample.timeMs, sample.holdsANumber else { return }
        let seconds = Double(min(nextMs - sample.timeMs, Self.holdLimitMs)) / 1000
        withGroup(stream, sample) { group in
            let ordered = group.isOrdered(as: sample.parameters)
            for position in sample.parameters.indices {
                guard let number = sample.number(at: position) else { continue }
                let i = ordered ? position : group.index(sample.parameters[position], hint: position)
                group.cells[i].wsum += number * seconds
                group.cells[i].held += seconds
            }
        }
    }

    /// Adds stored cells (read with `storedQuery`) to these groups, for the groups these touch.
    mutating func merge(stored key: GroupKey, parameter: String, cell: Cell) {
        settle()
        guard groups[key] != nil else { return }
        groups[key]!.cells[groups[key]!.index(parameter)].merge(cell)
    }

    /// Each parameter's cell on its own, for comparing.
    mutating func flatCells() -> [FlatKey: Cell] {
        settle()
        var flat: [FlatKey: Cell] = [:]
        for (key, group) in groups {
            for (parameter, cell) in zip(group.parameters, group.cells) { flat[FlatKey(group: key, parameter: parameter)] = cell }
        }
        return flat
    }

    struct FlatKey: Hashable {
        var group: GroupKey
        var parameter: String
    }

    static let columns = "site, epoch, stream, minute, batch, phase, parameters, samples, n, lo, hi, wsum, held"

    /// The groups as COPY text rows of `columns`, arrays as PostgreSQL's array literals.
    mutating func copyRows() -> CopyTextWriter {
        settle()
        var rows = CopyTextWriter(capacity: groups.count * 600)
        for (key, group) in groups {
            rows.field(key.stream.site)
            rows.field(key.stream.epoch)
            rows.field(key.stream.stream)
            rows.field(integer: key.minute)
            rows.field(key.batch)
            rows.field(key.phase)
            rows.field(PostgresArray.text(group.parameters))
            rows.field(Self.array(group.cells) { String($0.samples) })
            rows.field(Self.array(group.cells) { String($0.n) })
            rows.field(Self.array(group.cells) { $0.lo.map(Self.float8) ?? "NULL" })
            rows.field(Self.array(group.cells) { $0.hi.map(Self.float8) ?? "NULL" })
            rows.field(Self.array(group.cells) { Self.float8($0.wsum) })
            rows.field(Self.array(group.cells) { Self.float8($0.held) })
            rows.endRow()
        }
        return rows
    }

    /// An array literal of one number per cell, written in place (no list of strings to join).
    private static func array(_ cells: [Cell], _ element: (Cell) -> String) -> String {
        var text = "{"
        text.reserveCapacity(2 + cells.count * 20)
        for (i, cell) in cells.enumerated() {
            if i > 0 { text.append(",") }
            text.append(element(cell))
        }
        text.append("}")
        return text
    }

    /// A double as PostgreSQL reads a float8 (a sum of huge numbers may overflow to infinity).
    /// `description`, not interpolation: interpolating asks the runtime which protocols a value
    /// conforms to, each time.
    static func float8(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        return value.description
    }

    /// The stored cells of a stream's minutes `$4...$5`, a row per parameter.
    static let storedQuery = """
        SELECT minute, batch, phase, parameter, samples, n, lo, hi, wsum, held FROM sample_minute_values
        WHERE site = $1 AND epoch = $2 AND stream = $3 AND minute BETWEEN $4::bigint AND $5::bigint
        """

    /// Puts the staged groups (`minute_delta`), already merged with what was stored, in place.
    static let upsert = """
        INSERT INTO sample_minutes AS m (\(columns)) SELECT \(columns) FROM minute_delta
        ON CONFLICT (site, epoch, stream, minute, batch, phase) DO UPDATE SET
            parameters = excluded.parameters, samples = excluded.samples, n = excluded.n, lo = excluded.lo, hi = excluded.hi,
            wsum = excluded.wsum, held = excluded.held
        """

    /// Reads the stored cells of the minutes these groups touch and merges them in, so `upsert`
    /// writes whole minutes. The caller holds the streams' rows (as ingest does), so nothing is
    /// added to those minutes meanwhile.
    mutating func mergeStored(on connection: PostgresConnection) throws {
        settle()
        var ranges: [StreamKey: ClosedRange<Int64>] = [:]
        for key in groups.keys {
            let r = ranges[key.stream]
            ranges[key.stream] = min(r?.lowerBound ?? key.minute, key.minute)...max(r?.upperBound ?? key.minute, key.minute)
        }
        for (stream, range) in ranges.sorted(by: { $0.key < $1.key }) {
            let rows = try connection.execute(Self.storedQuery, [stream.site, stream.epoch, stream.stream, String(range.lowerBound), String(range.upperBound)])
            for row in rows.map({ $0 }) {
                guard let minute = row.int("minute") else { continue }
                merge(stored: GroupKey(stream: stream, minute: minute, batch: row.string("batch") ?? "", phase: row.string("phase") ?? ""),
                      parameter: row.string("parameter") ?? "", cell: Self.cell(row))
            }
        }
    }

    static func cell(_ row: PostgresResult.Row) -> Cell {
        Cell(samples: Int(row.int("samples") ?? 0), n: Int(row.int("n") ?? 0), lo: row.double("lo"), hi: row.double("hi"),
             wsum: row.double("wsum") ?? .nan, held: row.double("held") ?? .nan)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` (the site's form, `IngestWriter.hasSiteTimeForm`) as milliseconds
/// since 1970; nil for anything else.
func siteTimeMilliseconds(_ time: String) -> Int64? {
    // Read in place: ingest reads the time of every sample it rolls up.
    if let read = time.utf8.withContiguousStorageIfAvailable({ siteTimeMilliseconds(utf8: $0) }) { return read }
    var time = time
    return time.withUTF8 { siteTimeMilliseconds(utf8: $0) }
}

private func siteTimeMilliseconds(utf8 b: UnsafeBufferPointer<UInt8>) -> Int64? {
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
