import ControlSiteRecords
import Foundation
import Hashing
import POCareContract
import SiteStore

/// Today's `samples` rows moved into chunks, stream by stream, with the proof: per stream the
/// count, the first and last number, a SHA-256 over every record's hash in number order and one
/// over every record's content (number, time, each value's bits, quality), computed from the old
/// rows before and from the chunks after. Today's rows carry the time in milliseconds only, so
/// their hashes cannot be recomputed: the chunks keep every hash (`hashes`) and the time as
/// stored (milliseconds, as nanoseconds).
struct LegacyMigration {
    let source: PostgresConnection
    let target: PostgresConnection
    let streams: [DesignStream]

    struct Proof: Equatable {
        var count: Int64
        var first: Int64
        var last: Int64
        var hashes: String
        var content: String
    }

    /// Moves every stream; returns the rate and the streams whose proof failed.
    func run() throws -> (rate: Rate, failed: [String]) {
        let meter = try CPUMeter(target)
        var failed: [String] = [], moved = 0
        let byName = Dictionary(uniqueKeysWithValues: streams.map { ($0.name, $0) })
        for name in byName.keys.sorted() {
            let stream = byName[name]!
            let before = try legacyProof(stream)
            let columns = try read(stream)
            try target.transaction {
                var copy = BinaryCopy(capacity: columns.count * 120)
                for chunk in DesignRows.chunkRanges(columns, 0..<columns.count, ChunkLayout()) {
                    DesignRows.appendChunk(&copy, columns, chunk, candidate: .chunksHashes)
                }
                try target.copy("COPY sample_chunks (\(DesignRows.chunkColumns)) FROM STDIN (FORMAT binary)", data: copy.finished())
                var rollups = RollupAccumulator()
                rollups.add(columns, 0..<columns.count)
                try target.copy("COPY minute_rollups (\(RollupAccumulator.columns)) FROM STDIN (FORMAT binary)", data: rollups.encode().finished())
            }
            moved += columns.count
            let after = try chunkProof(stream)
            if after != before { failed.append("\(name): before \(before), after \(after)") }
        }
        return (meter.read(samples: moved), failed)
    }

    private func legacyProof(_ stream: DesignStream) throws -> Proof {
        let r = try source.execute("""
            SELECT count(*) AS count, min(seq) AS first, max(seq) AS last,
                   encode(sha256(string_agg(decode(hash, 'hex'), ''::bytea ORDER BY seq)), 'hex') AS hashes
            FROM samples WHERE site = $1 AND stream = $2
            """, [stream.site, stream.name])
        return Proof(count: r.int(0, "count")!, first: r.int(0, "first")!, last: r.int(0, "last")!, hashes: r.string(0, "hashes")!,
                     content: Self.contentDigest(try read(stream)))
    }

    private func chunkProof(_ stream: DesignStream) throws -> Proof {
        let key = [String(stream.siteId), String(stream.streamId)]
        let r = try target.execute("""
            SELECT sum(n) AS count, min(seq_first) AS first, max(seq_first + n - 1) AS last,
                   encode(sha256(string_agg(hashes, ''::bytea ORDER BY seq_first)), 'hex') AS hashes
            FROM sample_chunks WHERE site_id = $1 AND stream_id = $2
            """, key)
        let chunks = DecodedChunk.decode(try target.execute(
            "SELECT \(DecodedChunk.selectList()) FROM sample_chunks WHERE site_id = $1 AND stream_id = $2 ORDER BY seq_first", key))
        let columns = SampleColumns(stream: stream, seqFirst: chunks.first?.seqFirst ?? 1, previousOfFirst: genesisHash)
        for c in chunks {
            let p = designParameters.count
            for i in 0..<c.count {
                columns.appendStored(timeNs: c.timeNs[i], cycle: c.cycle[i], values: Array(c.values[(i * p)..<((i + 1) * p)]),
                                     quality: Array(c.quality[(i * p)..<((i + 1) * p)]), hash: [])
            }
        }
        return Proof(count: r.int(0, "count")!, first: r.int(0, "first")!, last: r.int(0, "last")!, hashes: r.string(0, "hashes")!,
                     content: Self.contentDigest(columns))
    }

    /// Today's rows of a stream as stored: time in milliseconds, values and quality from their JSON.
    private func read(_ stream: DesignStream) throws -> SampleColumns {
        let rows = try source.execute("""
            SELECT seq, (extract(epoch FROM time) * 1000)::bigint AS ms, cycle, "values"::text AS vals, quality::text AS quality, hash, previous_hash
            FROM samples WHERE site = $1 AND stream = $2 ORDER BY seq
            """, [stream.site, stream.name]).map { $0 }
        let columns = SampleColumns(stream: stream, seqFirst: rows.first?.int("seq") ?? 1,
                                    previousOfFirst: bytes(hexText: rows.first?.string("previous_hash") ?? RecordChain.genesis))
        for row in rows {
            let values = try JSONFields(Array(row.string("vals")!.utf8))
            let quality = try row.string("quality").map { try JSONFields(Array($0.utf8)) }
            columns.appendStored(
                timeNs: row.int("ms")! * 1_000_000, cycle: row.int("cycle") ?? 0,
                values: designParameters.map { p in values.raw(p).flatMap { Double(String(decoding: $0, as: UTF8.self)) } ?? .nan },
                quality: designParameters.map { p in quality?.string(p).map { $0 == "bad_device" ? 2 : 1 } ?? 0 },
                hash: bytes(hexText: row.string("hash")!))
        }
        return columns
    }

    /// SHA-256 over every record's number, time, values (their bits) and quality, in order.
    static func contentDigest(_ c: SampleColumns) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(c.count * 100)
        for i in 0..<c.count {
            withUnsafeBytes(of: c.seq(i).bigEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: c.timeNs[i].bigEndian) { bytes.append(contentsOf: $0) }
            for p in 0..<designParameters.count {
                withUnsafeBytes(of: (c.value(i, p) ?? .nan).bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(c.quality[i * designParameters.count + p])
            }
        }
        return SHA256.hex(bytes)
    }
}
