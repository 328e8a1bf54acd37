import POCareContract
import ControlSiteRecords
import SiteStore

/// Chunks read back as records, and their hashes recomputed from what is stored.
struct DecodedChunk {
    var streamId: Int32
    var contextId: Int32
    var seqFirst: Int64
    var timeNs: [Int64] = []
    var cycle: [Int64] = []
    /// Sample-major; NaN where no value.
    var values: [Double] = []
    var quality: [UInt8] = []
    var previousHash: [UInt8]
    var lastHash: [UInt8]
    /// Every record's hash, where the chunk keeps them.
    var hashes: [UInt8]?

    var count: Int { timeNs.count }

    /// The select list `decode` reads, by column name, of the chunks table under `alias`.
    static func selectList(_ alias: String = "sample_chunks") -> String {
        let a = alias + "."
        return """
            \(a)stream_id, \(a)context_id, \(a)seq_first, \(a)first_ns, \(a)time_step, \(a)cycle_first, \(a)n,
            encode(\(a)previous_hash, 'hex') AS previous_hash, encode(\(a)last_hash, 'hex') AS last_hash,
            encode(\(a)hashes, 'hex') AS hashes, \(a)offsets::text AS offsets, \(a)offsets_ns::text AS offsets_ns,
            \(a)cycles::text AS cycles, \(a)narrow::text AS narrow, \(a)wide::text AS wide, \(a)bad::text AS bad
            """
    }

    /// Every chunk of `result` (rows selected with `selectList()`).
    static func decode(_ result: PostgresResult) -> [DecodedChunk] {
        result.map { row in
            let parameters = designParameters.count
            let n = Int(row.int("n")!)
            var chunk = DecodedChunk(
                streamId: Int32(row.int("stream_id")!), contextId: Int32(row.int("context_id")!), seqFirst: row.int("seq_first")!,
                previousHash: bytes(hexText: row.string("previous_hash")!), lastHash: bytes(hexText: row.string("last_hash")!),
                hashes: row.string("hashes").map { bytes(hexText: $0) })
            let first = row.int("first_ns")!, step = row.int("time_step")!
            if let offsets = row.string("offsets") {
                chunk.timeNs = numbers(offsets).enumerated().map { first + Int64($0.offset) * step + Int64($0.element!) }
            } else {
                chunk.timeNs = numbers(row.string("offsets_ns")!).map { first + Int64($0!) }
            }
            let cycleFirst = row.int("cycle_first")!
            chunk.cycle = row.string("cycles").map { numbers($0).map { cycleFirst + Int64($0!) } }
                ?? (0..<n).map { cycleFirst + Int64($0) }
            chunk.values = [Double](repeating: .nan, count: n * parameters)
            chunk.quality = [UInt8](repeating: 0, count: n * parameters)
            // Parameter-major arrays; a real prints as its shortest decimal, which reads back as the stored double.
            for column in ["narrow", "wide"] {
                guard let text = row.string(column) else { continue }
                for (k, v) in numbers(text).enumerated() {
                    guard let v else { continue }
                    chunk.values[(k % n) * parameters + k / n] = v
                }
            }
            if let bad = row.string("bad") {
                for code in numbers(bad) {
                    let c = Int(code!)
                    chunk.quality[(c / 4 / 1024) * parameters + (c / 4) % 1024] = UInt8(c % 4)
                }
            }
            return chunk
        }
    }

    /// The elements of an array's text form, flattened; nil for NULL.
    static func numbers(_ text: String) -> [Double?] {
        var out: [Double?] = []
        for token in text.utf8.split(whereSeparator: { $0 == 0x2C || $0 == 0x7B || $0 == 0x7D }) {
            let s = Substring(token)
            out.append(s == "NULL" ? nil : Double(s))
        }
        return out
    }

    /// Recomputes every record's hash from the chunk's previous hash; true when the chain ends
    /// at the stored last hash (and matches every stored hash).
    func verify(_ stream: DesignStream, hasher: inout RecordChain.Hasher) -> (verified: Bool, hashes: [UInt8]) {
        let parameters = designParameters.count
        var previous = hex(previousHash)
        var computed: [UInt8] = []
        computed.reserveCapacity(count * 32)
        let columns = SampleColumns(stream: stream, seqFirst: seqFirst, previousOfFirst: previousHash)
        for i in 0..<count {
            let hash = columns.chainHash(
                previous: previous, seq: seqFirst + Int64(i), timeNs: timeNs[i], cycle: cycle[i],
                values: values[(i * parameters)..<((i + 1) * parameters)], quality: quality[(i * parameters)..<((i + 1) * parameters)],
                hasher: &hasher)
            computed.append(contentsOf: hash)
            previous = hex(hash)
        }
        let chained = computed.suffix(32).elementsEqual(lastHash)
        return (chained && (hashes.map { $0 == computed } ?? true), computed)
    }

    func point(_ i: Int, siteId: Int32) -> DesignPoint {
        let parameters = designParameters.count
        return DesignPoint(
            siteId: siteId, streamId: streamId, contextId: contextId, seq: seqFirst + Int64(i), timeNs: timeNs[i],
            values: Array(values[(i * parameters)..<((i + 1) * parameters)]),
            quality: Array(quality[(i * parameters)..<((i + 1) * parameters)]))
    }
}
