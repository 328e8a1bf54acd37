import POCareContract
import ArgumentParser
import Foundation
import POCareCore

/// How samples are cut into chunks and how PostgreSQL keeps a chunk's arrays.
struct ChunkLayout: Sendable {
    enum Storage: String, CaseIterable, ExpressibleByArgument, Sendable {
        /// Arrays compressed with lz4 and kept in the row (STORAGE MAIN, toast_tuple_target 128).
        case inline
        /// PostgreSQL's default: compressed (lz4) once a row passes 2 KB, moved to the TOAST table if still too long.
        case extended
    }

    /// A chunk never spans more than this (a divisor of 60, so never two minutes).
    var seconds: Int64 = 60
    var storage: Storage = .inline
}

/// Turns samples into the rows of each candidate (binary COPY, or text COPY for today's schema).
enum DesignRows {
    static let chunkColumns = """
        seq_first, first_ns, time_step, cycle_first, site_id, stream_id, context_id, layout_id, n, previous_hash, last_hash,
        hashes, offsets, offsets_ns, cycles, narrow, wide, bad
        """
    static let rowColumns = "seq, time_ns, cycle, site_id, stream_id, context_id, layout_id, hash, narrow, wide, bad"
    static let stagingColumns = "seq, time_ns, cycle, site_id, stream_id, context_id, layout_id, previous_hash, hash, vals, bad"
    static let todayColumns = """
        site, epoch, stream, seq, device, time, cycle, batch, phase, spec, "values", quality, hash, previous_hash
        """
    static let maxChunkRecords = 1024
    static let epoch = "e1366c405abc52957a8689d2642089e5"

    /// True when the value survives float32 and back as its shortest decimal, the way the site
    /// keeps float32 registers: then a real holds it exactly.
    @inline(__always)
    static func isFloat32Exact(_ v: Double) -> Bool {
        let f = Float(v)
        return f.isFinite && Double(shortestFloat32: f) == v
    }

    /// Splits a run of consecutive numbers into chunks: one span of `layout.seconds` each, at most `maxChunkRecords`.
    static func chunkRanges(_ c: SampleColumns, _ range: Range<Int>, _ layout: ChunkLayout) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = range.lowerBound
        let span = layout.seconds * 1_000_000_000
        for i in range where i > start {
            if c.timeNs[i] / span != c.timeNs[start] / span
                || i - start == maxChunkRecords
            {
                result.append(start..<i)
                start = i
            }
        }
        if start < range.upperBound { result.append(start..<range.upperBound) }
        return result
    }

    /// One chunk row of `c[range]` (consecutive numbers, one minute).
    static func appendChunk(_ copy: inout BinaryCopy, _ c: SampleColumns, _ range: Range<Int>, candidate: DesignCandidate) {
        let parameters = designParameters.count, n = range.count
        let first = range.lowerBound, last = range.upperBound - 1
        let firstNs = c.timeNs[first]
        copy.row(fields: 18)
        copy.int64(c.seq(first))
        copy.int64(firstNs)
        // Times as a straight line from the first and an int offset from it, where that fits.
        var step = n > 1 ? (c.timeNs[last] - firstNs) / Int64(n - 1) : 0
        var offsets: [Int64] = []
        offsets.reserveCapacity(n)
        for (k, i) in range.enumerated() { offsets.append(c.timeNs[i] - firstNs - Int64(k) * step) }
        let fitsInt = candidate != .chunksHashes && offsets.allSatisfy { $0 >= Int64(Int32.min) && $0 <= Int64(Int32.max) }
        if !fitsInt { step = 0 }
        copy.int64(step)
        copy.int64(c.cycle[first])
        copy.int32(c.stream.siteId)
        copy.int32(c.stream.streamId)
        copy.int32(c.stream.contextId)
        copy.int32(1)
        copy.int16(Int16(n))
        copy.bytea(Array(c.previousHash(first)))
        copy.bytea(Array(c.hash(last)))
        copy.bytea(candidate == .chunksHashes ? Array(c.hashes[(first * 32)..<((last + 1) * 32)]) : nil)
        if fitsInt {
            copy.intArray(offsets, as: .int4)
            copy.null()
        } else {
            copy.null()
            copy.intArray(range.map { c.timeNs[$0] - firstNs }, as: .int8)
        }
        let consecutive = range.allSatisfy { c.cycle[$0] - c.cycle[first] == Int64($0 - first) }
        if consecutive { copy.null() } else { copy.intArray(range.map { c.cycle[$0] - c.cycle[first] }, as: .int4) }
        // Per parameter: real when a float32 holds every value of the chunk exactly.
        var narrow = [Double?](repeating: nil, count: parameters * n), wide = narrow
        var anyNarrow = false, anyWide = false
        for p in 0..<parameters {
            let exact = candidate != .chunksFloat8 && range.allSatisfy { c.value($0, p).map(isFloat32Exact) ?? true }
            if exact { anyNarrow = true } else { anyWide = true }
            for (k, i) in range.enumerated() {
                if exact { narrow[p * n + k] = c.value(i, p) } else { wide[p * n + k] = c.value(i, p) }
            }
        }
        if anyNarrow { copy.floatArray(narrow, rows: parameters, as: .float4) } else { copy.null() }
        if anyWide { copy.floatArray(wide, rows: parameters, as: .float8) } else { copy.null() }
        var bad: [Int64] = []
        for (k, i) in range.enumerated() {
            for p in 0..<parameters where c.quality[i * parameters + p] != 0 {
                bad.append(Int64((k * 1024 + p) * 4) + Int64(c.quality[i * parameters + p]))
            }
        }
        if bad.isEmpty { copy.null() } else { copy.intArray(bad, as: .int4) }
    }

    /// One row of candidate (a).
    static func appendRow(_ copy: inout BinaryCopy, _ c: SampleColumns, _ i: Int) {
        let parameters = designParameters.count
        copy.row(fields: 11)
        copy.int64(c.seq(i))
        copy.int64(c.timeNs[i])
        copy.int64(c.cycle[i])
        copy.int32(c.stream.siteId)
        copy.int32(c.stream.streamId)
        copy.int32(c.stream.contextId)
        copy.int32(1)
        copy.bytea(Array(c.hash(i)))
        var narrow = [Double?](repeating: nil, count: parameters), wide = narrow
        var anyWide = false
        for p in 0..<parameters {
            guard let v = c.value(i, p) else { continue }
            if isFloat32Exact(v) { narrow[p] = v } else { wide[p] = v; anyWide = true }
        }
        copy.floatArray(narrow, rows: nil, as: .float4)
        if anyWide { copy.floatArray(wide, rows: nil, as: .float8) } else { copy.null() }
        appendBad(&copy, c, i)
    }

    /// One live record waiting for its minute to close.
    static func appendStaged(_ copy: inout BinaryCopy, _ c: SampleColumns, _ i: Int) {
        copy.row(fields: 11)
        copy.int64(c.seq(i))
        copy.int64(c.timeNs[i])
        copy.int64(c.cycle[i])
        copy.int32(c.stream.siteId)
        copy.int32(c.stream.streamId)
        copy.int32(c.stream.contextId)
        copy.int32(1)
        copy.bytea(Array(c.previousHash(i)))
        copy.bytea(Array(c.hash(i)))
        copy.floatArray((0..<designParameters.count).map { c.value(i, $0) }, rows: nil, as: .float8)
        appendBad(&copy, c, i)
    }

    private static func appendBad(_ copy: inout BinaryCopy, _ c: SampleColumns, _ i: Int) {
        let parameters = designParameters.count
        let bad = (0..<parameters).compactMap { p -> Int64? in
            let q = c.quality[i * parameters + p]
            return q == 0 ? nil : Int64(p * 4) + Int64(q)
        }
        if bad.isEmpty { copy.null() } else { copy.intArray(bad, as: .int4) }
    }

    /// One row of today's `samples` table, as today's ingest stores what arrives.
    static func appendToday(_ text: inout [UInt8], _ c: SampleColumns, _ i: Int) {
        let parameters = designParameters.count
        var values = "{", quality = ""
        for p in 0..<parameters {
            if p > 0 { values += "," }
            values += "\"\(designParameters[p])\":" + (c.value(i, p).map(jsonNumber) ?? "null")
            let q = c.quality[i * parameters + p]
            if q != 0 { quality += (quality.isEmpty ? "{" : ",") + "\"\(designParameters[p])\":\"\(q == 1 ? "bad_communication" : "bad_device")\"" }
        }
        let seconds = Double(c.timeNs[i] / 1_000_000) / 1000
        let fields: [String?] = [
            c.stream.site, epoch, c.stream.name, String(c.seq(i)), c.stream.device,
            UTCTime.format(Date(timeIntervalSince1970: seconds)), String(c.cycle[i]), c.stream.context.batchId, c.stream.context.phase,
            c.stream.context.specFingerprint, values + "}", quality.isEmpty ? nil : quality + "}", hex(c.hash(i)), hex(c.previousHash(i)),
        ]
        text.append(contentsOf: fields.map { $0 ?? "\\N" }.joined(separator: "\t").utf8)
        text.append(0x0A)
    }

    static func jsonNumber(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }
}
