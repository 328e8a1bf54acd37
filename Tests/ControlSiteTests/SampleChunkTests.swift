@testable import ControlSiteQuality
@testable import ControlSiteRecords
import POCareContract
import POCareCore
import Foundation
import Logging
import Testing
import TestSupport

/// Settled samples kept as chunks (`SampleChunkSchema`, `SampleCompaction`): every record reads
/// back as it was stored, what reads records sees no difference, ingest meets chunked records as
/// it meets rows, and a chunk changed behind the Control Site's back is seen as a change.
@Suite("Samples kept as chunks", .serialized)
struct SampleChunkTests {
    static let site = "site-c"

    /// Samples 1...n of one device, chained as the site's store chains them, in messages of 50;
    /// a batch over the first 250, then none. Values move as float32 registers do (kept as their
    /// shortest decimal, as the site keeps them), one is not read well now and then.
    static func messages(_ feed: SiteFeed, _ range: ClosedRange<Int64>) -> [SiteFeed.Message] {
        stride(from: range.lowerBound, through: range.upperBound, by: 50).map { first in
            let seqs = first...min(first + 49, range.upperBound)
            return feed.telemetry("rocker-1", seqs, batch: first <= 250 ? "B-1" : nil, phase: first <= 100 ? "expansion" : "harvest",
                                  spec: "sha256:aa", readings: { seq in
                [
                    Reading(parameterId: "temperature", value: .number(Double(shortestFloat32: Float(36.5 + Double(seq % 13) / 10))), quality: .good),
                    Reading(parameterId: "ph", value: .number(Double(shortestFloat32: Float(7.0 + Double(seq % 7) / 100))),
                            quality: seq % 11 == 0 ? .badCommunication : .good),
                    Reading(parameterId: "status", value: .text(seq % 90 < 45 ? "auto" : "manual"), quality: .good),
                ]
            })
        }
    }

    func chainedFeed(_ db: IngestDatabase) -> SiteFeed {
        SiteFeed(site: Self.site, start: Date().addingTimeInterval(-6 * 3600), chains: db.chains)
    }

    /// Everything a reader can see of the stored samples, one line a record.
    static func everyRecord(_ db: IngestDatabase) throws -> [String] {
        try db.connection.execute("SELECT s::text AS line FROM stored_samples s ORDER BY site, epoch, stream, seq").map { $0.string("line") ?? "" }
    }

    static func compact(_ db: IngestDatabase, olderThan: TimeInterval = 600) throws -> SampleCompaction.Pass {
        try SampleCompaction(settledAfter: olderThan).run(on: db.connection, logger: Logger(label: "test"))
    }

    static func proof(_ db: IngestDatabase) throws -> [String] {
        try StoredRecordProof.verify(site: site, batch: nil, on: db.connection).lines
    }

    @Test("settled samples become chunks that read back byte for byte: the batch's digest, its proof and rollups unchanged, its record not marked changed, the store smaller")
    func compactionKeepsEveryRecord() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        for message in Self.messages(feed, 1...400) { try db.write([message]) }
        let before = try Self.everyRecord(db)
        let digest = try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection)
        let proof = try Self.proof(db)
        let version = try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'")
        let rowBytes = try db.count("SELECT pg_total_relation_size('samples_' || to_char(now() - interval '6 hours', 'YYYY_MM'))")
        #expect(before.count == 400)

        let pass = try Self.compact(db)
        #expect(pass.records == 400)
        #expect(try db.count("SELECT count(*) FROM samples") == 0)
        #expect(try db.count("SELECT sum(n) FROM sample_chunks") == 400)
        // A chunk is one minute of one batch and phase: 400 samples a second apart span 7-8 minutes, with two boundaries more.
        #expect(try db.count("SELECT count(*) FROM sample_chunks") <= 11)
        #expect(try Self.everyRecord(db) == before)
        #expect(try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection) == digest)
        #expect(try Self.proof(db) == proof)
        #expect(try MinuteRollupCheck.verify(site: Self.site, batch: nil, rebuild: false, on: db.connection).intact)
        #expect(try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'") == version)
        let chunkBytes = try db.count("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname ~ '^sample_chunks_[0-9]'")
        #expect(chunkBytes < rowBytes)

        // Compacting again finds nothing new; the samples read back the same.
        #expect(try Self.compact(db).records == 0)
        #expect(try Self.everyRecord(db) == before)
    }

    @Test("chunks written before numbers were kept as reals (their values as text) read back the same, and are kept as reals once made rows and compacted again")
    func chunksOfTheEarlierVersion() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        for message in Self.messages(feed, 1...300) { try db.write([message]) }
        let before = try Self.everyRecord(db)
        #expect(try Self.compact(db).records == 300)
        // Each chunk as schema version 16 wrote it: every record's values as text, no template, no reals.
        try db.connection.execute("""
            UPDATE sample_chunks c SET "values" = (
                SELECT array_agg(r."values"::text ORDER BY r.seq)
                FROM sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec, c.first_ns,
                    c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes,
                    c.value_template, c.value_reals) r),
                value_template = NULL, value_reals = NULL
            """)
        #expect(try db.count("SELECT count(*) FROM sample_chunks WHERE value_template IS NOT NULL OR \"values\" IS NULL") == 0)
        #expect(try Self.everyRecord(db) == before)
        // Made rows again (as ingest or a dispute would) and compacted: kept as reals, the same records.
        try db.connection.execute("SELECT sample_chunks_expand(site, epoch, stream, 1, 300) FROM streams WHERE kind = 'sample'")
        #expect(try db.count("SELECT count(*) FROM samples") == 300)
        #expect(try Self.compact(db).records == 300)
        #expect(try db.count("SELECT count(*) FROM sample_chunks WHERE value_template IS NULL") == 0)
        #expect(try Self.everyRecord(db) == before)
    }

    @Test("a long backlog is moved a bounded number of records a transaction, all of it, reading back the same")
    func boundedTransactions() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        for message in Self.messages(feed, 1...400) { try db.write([message]) }
        let before = try Self.everyRecord(db)
        let pass = try SampleCompaction(settledAfter: 600, recordsPerTransaction: 64).run(on: db.connection, logger: Logger(label: "test"))
        #expect(pass.records == 400)
        #expect(try db.count("SELECT count(*) FROM samples") == 0)
        // No chunk holds more than one transaction's numbers, and none reaches across two.
        #expect(try db.count("SELECT count(*) FROM sample_chunks WHERE n > 64 OR (seq_first - 1) / 64 <> (seq_first + n - 2) / 64") == 0)
        #expect(try Self.everyRecord(db) == before)
        #expect(try StoredRecordProof.verify(site: Self.site, batch: "B-1", on: db.connection).intact)
    }

    @Test("only settled samples move: none newer than the cut-off, none above a gap; a gap filled late lets the rest follow")
    func onlySettledSamples() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        let all = Self.messages(feed, 1...400)
        // 201...250 missing: a gap; the stream's contiguous number stays at 200.
        for (i, message) in all.enumerated() where i != 4 { try db.write([message]) }
        #expect(try Self.compact(db, olderThan: 30 * 86_400).records == 0)
        #expect(try Self.compact(db).records == 200)
        #expect(try db.count("SELECT count(*) FROM samples WHERE seq <= 200") == 0)
        #expect(try db.count("SELECT count(*) FROM samples") == 150)
        // The gap filled late: the rest follows, all 400 read back.
        try db.write([all[4]])
        // The chunk ending at 200 was made rows again to link 201 to it, and goes back with the rest.
        #expect(try Self.compact(db).records > 200)
        #expect(try db.count("SELECT count(*) FROM samples") == 0)
        #expect(try db.count("SELECT count(*) FROM stored_samples") == 400)
    }

    @Test("ingest meets chunked records as rows: a resend is a duplicate, a differing copy a finding and a dispute, the next samples link to the chunk's last")
    func ingestAfterCompaction() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        let all = Self.messages(feed, 1...300)
        for message in all { try db.write([message]) }
        #expect(try Self.compact(db).records == 300)

        let resent = try db.write([all[1]])
        #expect(resent.inserted == 0 && resent.duplicates == 50 && resent.conflicts == 0)
        // Made rows to be compared, then kept as chunks again with the rest.
        #expect(try Self.compact(db).records > 0)
        #expect(try db.count("SELECT count(*) FROM samples") == 0)

        var forger = feed
        forger.chains = nil
        let forged = try db.write([forger.telemetry("rocker-1", 120...120, batch: "B-1", phase: "harvest", spec: "sha256:aa")])
        #expect(forged.conflicts == 1)
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind = 'conflicting_duplicate' AND seq_from = 120") == 1)
        // The disputed record stays a row while the finding is open.
        #expect(try Self.compact(db).records >= 0)
        #expect(try db.count("SELECT count(*) FROM samples WHERE seq = 120") == 1)

        for message in Self.messages(feed, 301...400) { try db.write([message]) }
        // The forged copy carried no hash (a chain break of its own); the link into the new samples holds.
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind = 'chain_break' AND seq_to <> 120") == 0)
        #expect(try db.count("SELECT count(*) FROM stored_samples") == 400)
        #expect(try MinuteRollupCheck.verify(site: Self.site, batch: nil, rebuild: false, on: db.connection).intact)
        #expect(try StoredRecordProof.verify(site: Self.site, batch: "B-1", on: db.connection).intact)
    }

    @Test("a stream's stored records are read back once each and in order, rows and chunks alike, across gaps wider than a page of numbers")
    func recordsReadAcrossGaps() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        for message in Self.messages(feed, 1...400) { try db.write([message]) }
        #expect(try Self.compact(db).records == 400)
        // The later chunks moved 25,000 numbers on, and a row 60,000 on: the reader pages by windows of
        // numbers, and must pass over empty windows to the next stored number, as a row or in a chunk.
        try db.connection.execute("""
            UPDATE sample_chunks SET seq_first = seq_first + 25000
            WHERE seq_first >= (SELECT min(seq_first) FROM sample_chunks WHERE seq_first > 200)
            """)
        try db.connection.execute("""
            INSERT INTO samples SELECT site, epoch, stream, seq + 60000, device, time, cycle, batch, phase, spec, "values", quality, hash,
                                       previous_hash, time_ns, raw
            FROM stored_samples WHERE seq = 1
            """)
        let stored = try db.connection.execute("SELECT seq FROM stored_samples ORDER BY seq").map { $0.int("seq") ?? 0 }
        #expect(stored.count == 401 && stored.last == 60_001 && stored.contains { $0 > 25_200 && $0 < 26_000 })
        var read: [Int64] = []
        try StoredRecordProof.records(site: Self.site, epoch: "", stream: "rocker-1/telemetry", from: 1, through: 100_000, on: db.connection) { seq, _ in
            read.append(seq)
        }
        #expect(read == stored)
        // From inside a chunk, and through a number inside another.
        read = []
        try StoredRecordProof.records(site: Self.site, epoch: "", stream: "rocker-1/telemetry", from: 150, through: 25_300, on: db.connection) { seq, _ in
            read.append(seq)
        }
        #expect(read == stored.filter { (150...25_300).contains($0) })
    }

    @Test("a chunk changed in place changes its batch's record: the version moves, the record hash differs, verify names the record")
    func changedChunkIsSeen() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        for message in Self.messages(feed, 1...200) { try db.write([message]) }
        #expect(try Self.compact(db).records == 200)
        let digest = try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection)
        let version = try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'")
        // The second record's temperature, kept as a real (its status is its chunk's most common).
        let holdsSecond = "seq_first <= 2 AND seq_first + n > 2"
        #expect(try db.count("SELECT count(*) FROM sample_chunks WHERE \(holdsSecond) AND value_reals[2 - seq_first + 1][1] IS NOT NULL") == 1)
        try db.connection.execute("UPDATE sample_chunks SET value_reals[2 - seq_first + 1][1] = value_reals[2 - seq_first + 1][1] + 1 WHERE \(holdsSecond)")
        #expect(try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'") > version)
        #expect(try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection) != digest)
        let verdict = try StoredRecordProof.verify(site: Self.site, batch: "B-1", on: db.connection)
        #expect(!verdict.intact)

        // A chunk removed without its records stored as rows is a change too.
        let again = try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'")
        try db.connection.execute("DELETE FROM sample_chunks WHERE seq_first = (SELECT max(seq_first) FROM sample_chunks WHERE batch = 'B-1')")
        #expect(try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'") > again)
    }

    @Test("a chunk keeps numbers as reals only where the real reads back as the text sent: other numbers, labels and their records keep their text, and every session reads the same")
    func typedValuesReadBackAsSent() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        // Float32 registers as the site keeps them, with now and then a number no float32 holds
        // (every tenth), one the site writes with an exponent (every 25th), one a real would
        // write with one (every 40th), and a label with a percent sign (every 30th); a flag.
        let messages = stride(from: Int64(1), through: 200, by: 50).map { first in
            feed.telemetry("rocker-1", first...(first + 49), batch: "B-1", phase: "expansion", spec: "sha256:aa", readings: { seq in
                [
                    Reading(parameterId: "temperature", value: .number(Double(shortestFloat32: Float(36.5 + Double(seq) * 0.0137))), quality: .good),
                    Reading(parameterId: "ph", value: .number(seq % 10 == 0 ? 7.1 + 1e-9 * Double(seq) : Double(shortestFloat32: Float(7 + Double(seq % 7) / 100))),
                            quality: .good),
                    Reading(parameterId: "dissolved_oxygen", value: .number(seq % 25 == 0 ? 1.5e-7 : 0.25), quality: .good),
                    Reading(parameterId: "culture_weight", value: .number(seq % 40 == 0 ? 2_000_000 : 16), quality: .good),
                    Reading(parameterId: "serial_number", value: .text(seq % 30 == 0 ? "RB-100%" : "RB-7"), quality: .good),
                    Reading(parameterId: "running", value: .flag(true), quality: .good),
                ]
            })
        }
        for message in messages { try db.write([message]) }
        let before = try Self.everyRecord(db)
        let digest = try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection)
        #expect(try Self.compact(db).records == 200)
        #expect(try db.count("SELECT count(*) FROM samples") == 0)

        // Every tenth, 25th, 30th and 40th record keeps its text: 24 of 200; the rest are reals.
        #expect(try db.count("SELECT count(*) FROM sample_chunks c, unnest(c.\"values\") v WHERE v IS NOT NULL") == 24)
        #expect(try db.count("SELECT count(*) FROM sample_chunks WHERE value_template = '{\"temperature\":%s,\"ph\":%s,\"dissolved_oxygen\":%s,\"culture_weight\":%s,\"serial_number\":\"RB-7\",\"running\":true}'")
                == db.count("SELECT count(*) FROM sample_chunks"))
        #expect(try db.count("SELECT sum(array_length(value_reals, 1)) FROM sample_chunks") == 200)
        #expect(try Self.everyRecord(db) == before)
        for digits in ["0", "3", "-15"] {
            try db.connection.execute("SET extra_float_digits = \(digits)")
            #expect(try Self.everyRecord(db) == before, "read with extra_float_digits \(digits)")
            #expect(try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection) == digest)
        }
        try db.connection.execute("RESET extra_float_digits")
        #expect(try StoredRecordProof.verify(site: Self.site, batch: "B-1", on: db.connection).intact)

        // A record kept as text changed in its chunk is seen as a change, as one kept as reals is.
        try db.connection.execute("""
            UPDATE sample_chunks SET "values"[10 - seq_first + 1] = replace("values"[10 - seq_first + 1], '"ph":', '"ph":1')
            WHERE seq_first <= 10 AND seq_first + n > 10
            """)
        #expect(try db.count("SELECT count(*) FROM stored_samples WHERE seq = 10 AND \"values\"::text LIKE '%\"ph\":17.1%'") == 1)
        #expect(try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection) != digest)
        #expect(try !StoredRecordProof.verify(site: Self.site, batch: "B-1", on: db.connection).intact)
    }
}
