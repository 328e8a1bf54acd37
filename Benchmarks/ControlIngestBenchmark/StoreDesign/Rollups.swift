/// One record as the rollups need it: where it belongs, when, and its values.
struct DesignPoint {
    var siteId: Int32
    var streamId: Int32
    var contextId: Int32
    var seq: Int64
    var timeNs: Int64
    /// NaN where the record has no value.
    var values: [Double]
    var quality: [UInt8]

    func good(_ p: Int) -> Double? { quality[p] == 0 && !values[p].isNaN ? values[p] : nil }
}

extension SampleColumns {
    func point(_ i: Int) -> DesignPoint {
        let parameters = designParameters.count
        return DesignPoint(
            siteId: stream.siteId, streamId: stream.streamId, contextId: stream.contextId, seq: seq(i), timeNs: timeNs[i],
            values: Array(values[(i * parameters)..<((i + 1) * parameters)]),
            quality: Array(quality[(i * parameters)..<((i + 1) * parameters)]))
    }
}

/// Per stream, minute and context: count, lowest, highest and time-weighted sums per parameter.
/// A value is held from its record's time until the next record's, at most `holdLimitNs`, and
/// the held time counts in the minute of the record that holds it. Each interval between two
/// consecutive records is added exactly once, by whoever stores the second of the two, so
/// records arriving in any order give the same rollups.
struct RollupAccumulator {
    struct Key: Hashable {
        var siteId: Int32
        var streamId: Int32
        var minute: Int32
        var contextId: Int32
    }

    struct Cell {
        var samples: Int32 = 0
        var n = [Int64](repeating: 0, count: designParameters.count)
        var lo = [Double?](repeating: nil, count: designParameters.count)
        var hi = [Double?](repeating: nil, count: designParameters.count)
        var wsum = [Double](repeating: 0, count: designParameters.count)
        var wsq = [Double](repeating: 0, count: designParameters.count)
        var held = [Double](repeating: 0, count: designParameters.count)
    }

    let holdLimitNs: Int64
    private(set) var cells: [Key: Cell] = [:]

    init(holdLimitNs: Int64 = 3_000_000_000) { self.holdLimitNs = holdLimitNs }

    private func key(_ p: DesignPoint) -> Key {
        Key(siteId: p.siteId, streamId: p.streamId, minute: Int32(p.timeNs / DesignSchema.nanosecondsPerMinute), contextId: p.contextId)
    }

    mutating func add(sample p: DesignPoint) {
        var cell = cells[key(p)] ?? Cell()
        cell.samples += 1
        for i in 0..<designParameters.count {
            guard let v = p.good(i) else { continue }
            cell.n[i] += 1
            cell.lo[i] = min(cell.lo[i] ?? v, v)
            cell.hi[i] = max(cell.hi[i] ?? v, v)
        }
        cells[key(p)] = cell
    }

    /// The interval from `p` to the next record of its stream, at `nextNs`.
    mutating func add(interval p: DesignPoint, until nextNs: Int64) {
        guard nextNs > p.timeNs else { return }
        let held = Double(min(nextNs - p.timeNs, holdLimitNs)) / 1e9
        var cell = cells[key(p)] ?? Cell()
        for i in 0..<designParameters.count {
            guard let v = p.good(i) else { continue }
            cell.wsum[i] += held * v
            cell.wsq[i] += held * v * v
            cell.held[i] += held
        }
        cells[key(p)] = cell
    }

    /// Every sample and inner interval of `c[range]`.
    mutating func add(_ c: SampleColumns, _ range: Range<Int>) {
        var previous: DesignPoint?
        for i in range {
            let p = c.point(i)
            add(sample: p)
            if let previous { add(interval: previous, until: p.timeNs) }
            previous = p
        }
    }

    mutating func removeAll() { cells.removeAll(keepingCapacity: true) }

    static let columns = "minute, site_id, stream_id, context_id, samples, n, lo, hi, wsum, wsq, held"

    func encode() -> BinaryCopy {
        var copy = BinaryCopy(capacity: cells.count * 600)
        for (key, cell) in cells {
            copy.row(fields: 11)
            copy.int32(key.minute)
            copy.int32(key.siteId)
            copy.int32(key.streamId)
            copy.int32(key.contextId)
            copy.int32(cell.samples)
            copy.intArray(cell.n, as: .int4)
            copy.floatArray(cell.lo, rows: nil, as: .float8)
            copy.floatArray(cell.hi, rows: nil, as: .float8)
            copy.floatArray(cell.wsum, rows: nil, as: .float8)
            copy.floatArray(cell.wsq, rows: nil, as: .float8)
            copy.floatArray(cell.held, rows: nil, as: .float8)
        }
        return copy
    }

    /// Adds these cells to the stored rollups (a minute whose records arrive in several
    /// transactions is merged, not overwritten).
    static let merge = """
        INSERT INTO minute_rollups AS r SELECT * FROM rollup_delta
        ON CONFLICT (site_id, stream_id, minute, context_id) DO UPDATE SET
            samples = r.samples + excluded.samples, n = i4_add(r.n, excluded.n),
            lo = f8_least(r.lo, excluded.lo), hi = f8_greatest(r.hi, excluded.hi),
            wsum = f8_add(r.wsum, excluded.wsum), wsq = f8_add(r.wsq, excluded.wsq), held = f8_add(r.held, excluded.held)
        """
}
