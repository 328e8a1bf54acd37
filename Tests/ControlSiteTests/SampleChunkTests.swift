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
    /// a batch over the first 250, then none. Values move, one is not read well now and then.
    static func messages(_ feed: SiteFeed, _ range: ClosedRange<Int64>) -> [SiteFeed.Message] {
        stride(from: range.lowerBound, through: range.upperBound, by: 50).map { first in
            let seqs = first...min(first + 49, range.upperBound)
            return feed.telemetry("rocker-1", seqs, batch: first <= 250 ? "B-1" : nil, phase: first <= 100 ? "expansion" : "harvest",
                                  spec: "sha256:aa", readings: { seq in
                [
                    Reading(parameterId: "temperature", value: .number(36.5 + Double(seq % 13) / 10), quality: .good),
                    Reading(parameterId: "ph", value: .number(7.0 + Double(seq % 7) / 100), quality: seq % 11 == 0 ? .badCommunication : .good),
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

    @Test("a chunk changed in place changes its batch's record: the version moves, the record hash differs, verify names the record")
    func changedChunkIsSeen() throws {
        let db = try IngestDatabase()
        let feed = chainedFeed(db)
        for message in Self.messages(feed, 1...200) { try db.write([message]) }
        #expect(try Self.compact(db).records == 200)
        let digest = try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection)
        let version = try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'")
        try db.connection.execute("""
            UPDATE sample_chunks SET "values"[2] = replace("values"[2], '"temperature":', '"temperature":1') WHERE seq_first = (SELECT min(seq_first) FROM sample_chunks)
            """)
        #expect(try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'") > version)
        #expect(try BatchRecordDigest.hash(site: Self.site, batch: "B-1", on: db.connection) != digest)
        let verdict = try StoredRecordProof.verify(site: Self.site, batch: "B-1", on: db.connection)
        #expect(!verdict.intact)

        // A chunk removed without its records stored as rows is a change too.
        let again = try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'")
        try db.connection.execute("DELETE FROM sample_chunks WHERE seq_first = (SELECT max(seq_first) FROM sample_chunks WHERE batch = 'B-1')")
        #expect(try db.count("SELECT version FROM batch_record_versions WHERE site = 'site-c' AND batch = 'B-1'") > again)
    }
}
