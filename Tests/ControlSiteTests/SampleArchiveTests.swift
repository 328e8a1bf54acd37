import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Hashing
import Testing
import TestSupport

/// Months of samples archived and restored through `pocare-control`, over a real PostgreSQL:
/// only a settled month goes, a batch whose records are archived is shown as archived and never
/// hashed without them, copies arriving meanwhile are set aside, and only the archive that was
/// taken comes back, after which the certified batch's record hashes as it did when signed.
@Suite("Months of samples archived and restored", .serialized)
struct SampleArchiveTests {
    static let site = DispositionScenarios.site
    static let september = Date(timeIntervalSince1970: 1_789_430_400)  // 2026-09-15T00:00:00Z

    func control(_ db: IngestDatabase, _ arguments: [String], as user: String? = nil) throws -> (status: Int32, output: String) {
        try runCommand("pocare-control", arguments + (user.map { ["--user", $0] } ?? []) + ["--database", db.connectionInfo],
                       input: passwordInput(), errors: true)
    }

    /// A batch that ran in September on str-7, certified; a batch still running on str-2 now.
    /// Also September's telemetry message as it was sent, to send again.
    func network() throws -> (db: IngestDatabase, oldFeed: SiteFeed, hash: String, spec: String, sent: SiteFeed.Message) {
        let db = try IngestDatabase(signing: [Self.site])
        let spec = try db.releaseExampleSpec()
        // Released through change control now, as if before September's batch ran: its page is months old.
        try db.connection.execute("UPDATE released_specs SET released = '2026-01-01T00:00:00Z'")
        try db.registerSite(Self.site, role: .reference, qualification: .qualified)
        for device in ["str-2", "str-7"] { try db.registerEquipment(Self.site, device, profile: "stirred-tank-str10") }
        let old = SiteFeed(site: Self.site, start: Self.september, chains: db.chains)
        let september = try old.finishedBatch("str-7", 1...60, batch: "R-SEPT", spec: spec, eventSeq: 1)
        try db.write(september)

        try db.write([try old.checkpoint()])
        // October: a batch that ended on str-2 with no disposition yet.
        let october = SiteFeed(site: Self.site, start: Self.september.addingTimeInterval(30 * 86_400), chains: db.chains)
        try db.write(try october.finishedBatch("str-2", 1...30, batch: "R-OCT", spec: spec, eventSeq: 1))
        let now = SiteFeed(site: Self.site, start: Date().addingTimeInterval(2), chains: db.chains)
        try db.write([now.telemetry("str-2", 31...60, batch: "R-NOW", phase: "expansion", spec: spec)])
        let hash = try DispositionScenarios.hash(db, "R-SEPT")
        for (meaning, user) in [("review", "quinn"), ("certify", "petra")] {
            let signed = try control(db, ["disposition", meaning, Self.site, "R-SEPT", "--hash", hash], as: user)
            #expect(signed.status == 0, "\(meaning): \(signed.output)")
        }
        return (db, old, hash, spec, september[0])
    }

    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("pocare-archive-\(UUID().uuidString)").path
    }

    @Test("a certified month is written with its manifest and dropped; its batch is shown as archived; restored, it hashes as signed")
    func archiveAndRestore() throws {
        let (db, old, signedHash, spec, sentTelemetry) = try network()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try db.count("SELECT count(*) FROM samples")
        #expect(try db.scalar("SELECT to_regclass('samples_2026_09') IS NOT NULL") == "t")

        // What was read of the batch before (its kept record hash) is never taken for its record once the month goes, or comes back.
        #expect(try BatchRecordDigest.current(site: Self.site, batch: "R-SEPT", on: db.connection) == signedHash)
        let version = "SELECT version FROM batch_record_versions WHERE site = '\(Self.site)' AND batch = 'R-SEPT'"
        let keptAt = try db.count(version)

        let archived = try control(db, ["archive", "--before", "2026-10", "--to", directory])
        #expect(archived.status == 0 && archived.output.contains("2026-09: 60 samples of 1 streams, 1 batches"), "\(archived.output)")
        let archivedAt = try db.count(version)
        #expect(archivedAt > keptAt, "a detach fires no trigger: the archive marks the month's batches changed itself")
        #expect(try db.scalar("SELECT to_regclass('samples_2026_09') IS NULL") == "t")
        #expect(try db.count("SELECT count(*) FROM samples") == before - 60)
        let manifestPath = "\(directory)/samples-2026-09.manifest.json"
        let manifest = try JSONDecoder().decode(SampleArchiveManifest.self, from: try Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        #expect(manifest.samples == 60 && manifest.batches == ["\(Self.site)/R-SEPT"])
        #expect(manifest.streams.map { "\($0.stream) \($0.seqFrom)...\($0.seqTo) \($0.samples)" } == ["str-7/telemetry 1...60 60"])
        // The rows' file is COPY text, one sample a line, readable without the database.
        let rows = try String(contentsOfFile: "\(directory)/samples-2026-09.copy", encoding: .utf8)
        #expect(rows.split(separator: "\n").count == 60 && rows.hasPrefix("\(Self.site)\t"))
        #expect(try ControlAuditTrail.entries(db.connection).contains { $0.action.action == "samples.archive" && $0.action.target == "2026-09" })

        // Its batch is archived: not shown, verified or signed without the month.
        let shown = try control(db, ["batch", Self.site, "R-SEPT"])
        #expect(shown.status != 0 && shown.output.contains("is archived (2026-09 in \(directory))"), "\(shown.output)")
        #expect(throws: QualityRefusal.self) { try BatchRecordDigest.hash(site: Self.site, batch: "R-SEPT", on: db.connection) }

        // Zoomed in on the archived month, the window names it rather than showing no samples.
        #expect {
            _ = try BatchWindow.load(db.connection, site: Self.site, batch: "R-SEPT", device: "str-7",
                                     from: Self.september.timeIntervalSince1970, to: Self.september.timeIntervalSince1970 + 60,
                                     specs: { _ in nil }, limits: .init())
        } throws: { error in
            (error as? BatchWindow.Refusal)?.description.contains("reaches into 2026-09, whose samples are archived in \(directory)") == true
        }

        // The stream's chain is walked across the archived month through the hashes kept at its ends.
        let walked = try control(db, ["verify", "--site", Self.site])
        #expect(walked.status == 0 && walked.output.contains("str-7/telemetry: 0 records (1...60), 60 archived: intact"), "\(walked.output)")
        // The month's minute rollups stay (they are not the record): not compared without its
        // samples, and not rebuilt, which would lose them.
        #expect(walked.output.contains("streams agree with their samples"), "\(walked.output)")
        #expect(try db.count("SELECT count(*) FROM sample_minutes WHERE batch = 'R-SEPT'") > 0)
        let rebuilt = try control(db, ["verify", "--site", Self.site, "--rebuild-rollups"])
        #expect(rebuilt.output.contains("not rebuilt: months of its samples are archived"), "\(rebuilt.output)")

        // A comparison names the archived batch and leaves it out, rather than judging what is left of it.
        let compared = try control(db, ["compare", "--spec", spec, "--phase", "expansion", "--reference", Self.site,
                                        "--profile", "stirred-tank-str10", "--profiles", shippedProfiles, "--json"])
        let report = try #require(jsonValue(compared.output) as? [String: Any], "\(compared.output)")
        let entry = (report["batches"] as? [[String: Any]])?.first { $0["batch"] as? String == "R-SEPT" }
        #expect(entry?["status"] as? String == "excluded"
                && ((entry?["reasons"] as? [String]) ?? []).contains { $0.contains("samples of 2026-09 are archived") }, "\(compared.output)")

        // Copies of archived records arriving now are set aside, not stored a second time: one
        // the same as the record, one that differs.
        try db.write([sentTelemetry])
        try db.write([old.telemetry("str-7", 9...9, batch: "R-SEPT", phase: "expansion", spec: spec) { _ in ["temperature": 41.0, "ph": 7.2] }])
        #expect(try db.count("SELECT count(*) FROM records_set_aside WHERE reason = 'archived_month' AND seq IN (1, 9)") == 2)
        #expect(try db.count("SELECT count(*) FROM samples") == before - 60)

        // Restored, the copies are compared with the records now back: the differing one is a finding, as on arrival.
        let restored = try control(db, ["restore", "--month", "2026-09", "--from", directory])
        #expect(restored.status == 1 && restored.output.contains("60 samples of 1 streams restored")
                && restored.output.contains("61 compared with the records, 1 differ"), "\(restored.output)")
        #expect(try db.scalar("SELECT seq_from FROM integrity_findings WHERE kind = 'conflicting_duplicate' AND resolved IS NULL") == "9")
        #expect(try db.count("SELECT count(*) FROM samples") == before)
        #expect(try db.count(version) > archivedAt, "nor does an attach: the restore marks them changed")
        #expect(try DispositionScenarios.hash(db, "R-SEPT") == signedHash)
        // Both signatures bind the record as it is again (the one exception is the site's qualification after September).
        let after = try control(db, ["batch", Self.site, "R-SEPT"])
        #expect(after.output.contains("reviewed   valid") && after.output.contains("certified  valid") && !after.output.contains("INVALID"),
                "\(after.output)")
        #expect(try db.count("SELECT count(*) FROM archived_months") == 0)
        // And the window reads them again (samples 1...60 at 1 s steps from the feed's start).
        let window = try #require(try BatchWindow.load(db.connection, site: Self.site, batch: "R-SEPT", device: "str-7",
                                                       from: Self.september.timeIntervalSince1970, to: Self.september.timeIntervalSince1970 + 60,
                                                       specs: { _ in nil }, limits: .init()))
        #expect(window.statistics.samples == 60)
        // Restored, the month's samples agree with the rollups kept through the archive.
        let verified = try control(db, ["verify", "--site", Self.site])
        #expect(verified.output.contains("streams agree with their samples"), "\(verified.output)")

        // Archived and restored again, the copies compared once are not compared again, nor the finding reopened.
        try db.connection.execute("UPDATE integrity_findings SET resolved = now() WHERE kind = 'conflicting_duplicate'")
        #expect(try control(db, ["archive", "--before", "2026-10", "--to", directory]).status == 0)
        let again = try control(db, ["restore", "--month", "2026-09", "--from", directory])
        #expect(again.status == 0 && !again.output.contains("copies received"), "\(again.output)")
        #expect(try db.count("SELECT count(*) FROM integrity_findings WHERE kind = 'conflicting_duplicate' AND resolved IS NULL") == 0)
    }

    @Test("a month with a batch not yet certified or rejected, after an open gap, or not ended, is not archived, and the refusal names why")
    func unsettledMonthsStay() throws {
        let (db, old, _, _, _) = try network()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let thisMonth = String(ISO8601DateFormatter().string(from: Date()).prefix(7))
        let next = try #require(SampleArchiveTests.month(after: thisMonth))
        let later = try #require(SampleArchiveTests.month(after: next))
        let refused = try control(db, ["archive", "--before", later, "--to", directory])
        #expect(refused.status == 1 && refused.output.contains("2026-10 is not archived: batch R-OCT at \(Self.site): no disposition"),
                "\(refused.output)")
        // September went (a month refused leaves the others to go); October and this month, not ended, stay.
        #expect(refused.output.contains("2026-09: 60 samples"), "\(refused.output)")
        #expect(try db.scalar("SELECT to_regclass('samples_2026_10') IS NOT NULL") == "t")
        #expect(try db.scalar("SELECT to_regclass('samples_\(thisMonth.replacingOccurrences(of: "-", with: "_"))') IS NOT NULL") == "t")

        // September again, with a gap before records that arrived late: held until the gap is filled.
        let restored = try control(db, ["restore", "--month", "2026-09", "--from", directory])
        #expect(restored.status == 0, "\(restored.output)")
        try db.write([old.telemetry("str-7", 70...75)])
        let gapped = try control(db, ["archive", "--before", "2026-10", "--to", directory])
        #expect(gapped.status == 1 && gapped.output.contains("str-7/telemetry: records to 75 in this month, but records from 61 are missing"),
                "\(gapped.output)")
        #expect(try db.scalar("SELECT to_regclass('samples_2026_09') IS NOT NULL") == "t")
    }

    @Test("a month holding only part of a stream's numbers between its first and last (a site clock set back) is refused, not archived as one range")
    func numbersSplitAcrossMonthsStay() throws {
        let (db, old, _, _, _) = try network()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Records 61...62 of str-7, dated in August, then 63 in September again: September holds 1...60 and 63.
        var august = old
        august.start = Self.september.addingTimeInterval(-30 * 86_400)
        try db.write([august.telemetry("str-7", 61...62, batch: "R-SEPT", phase: "expansion")])
        try db.write([old.telemetry("str-7", 63...63, batch: "R-SEPT", phase: "expansion")])
        let refused = try control(db, ["archive", "--before", "2026-10", "--to", directory])
        #expect(refused.status == 1 && refused.output.contains("str-7/telemetry: only 61 of the numbers 1...63 are in this month"),
                "\(refused.output)")
        #expect(try db.scalar("SELECT to_regclass('samples_2026_09') IS NOT NULL") == "t")
    }

    @Test("a restore refuses an archive whose rows or manifest were changed, and attaches nothing")
    func doctoredArchives() throws {
        let (db, _, _, _, _) = try network()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try control(db, ["archive", "--before", "2026-10", "--to", directory]).status == 0)
        let rowsPath = "\(directory)/samples-2026-09.copy", manifestPath = "\(directory)/samples-2026-09.manifest.json"
        let rows = try String(contentsOfFile: rowsPath, encoding: .utf8), manifest = try Data(contentsOf: URL(fileURLWithPath: manifestPath))

        try rows.replacingOccurrences(of: "37", with: "38").write(toFile: rowsPath, atomically: true, encoding: .utf8)
        let changedRows = try control(db, ["restore", "--month", "2026-09", "--from", directory])
        #expect(changedRows.status == 1 && changedRows.output.contains("the manifest says"), "\(changedRows.output)")

        // A manifest rewritten to match changed rows is not the manifest recorded when the month went.
        var doctored = try JSONDecoder().decode(SampleArchiveManifest.self, from: manifest)
        doctored.fileSHA256 = try sha256OfFile(rowsPath)
        try doctored.encoded().write(to: URL(fileURLWithPath: manifestPath))
        let changedManifest = try control(db, ["restore", "--month", "2026-09", "--from", directory])
        #expect(changedManifest.status == 1 && changedManifest.output.contains("is not the manifest recorded when 2026-09 was archived"),
                "\(changedManifest.output)")
        #expect(try db.scalar("SELECT to_regclass('samples_2026_09') IS NULL") == "t")
        #expect(try db.count("SELECT count(*) FROM archived_months") == 1)

        try rows.write(toFile: rowsPath, atomically: true, encoding: .utf8)
        try manifest.write(to: URL(fileURLWithPath: manifestPath))
        #expect(try control(db, ["restore", "--month", "2026-09", "--from", directory]).status == 0)
    }

    @Test("samples waiting in the default partition move into their month's partition without marking a signed batch's record changed")
    func movingRowsChangesNoRecord() throws {
        let (db, _, _, _, _) = try network()
        // A sample of the certified batch, dated in August, for which no partition exists: it waits in the default partition.
        try db.connection.execute("""
            INSERT INTO samples (site, epoch, stream, seq, device, time, batch, "values")
            SELECT site, epoch, stream, 1000, device, '2026-08-20T00:00:00Z', batch, "values" FROM samples WHERE batch = 'R-SEPT' AND seq = 1
            """)
        #expect(try db.count("SELECT count(*) FROM samples_default") == 1)
        #expect(try db.scalar("SELECT samples_month_partition('2026-08-05T00:00:00Z')") == "samples_2026_08")
        #expect(try db.count("SELECT count(*) FROM samples_default") == 0 && db.count("SELECT count(*) FROM samples_2026_08") == 1)
        #expect(try db.scalar("SELECT record_changed IS NULL FROM batch_dispositions WHERE batch = 'R-SEPT'") == "t")
    }

    @Test("a batch page and its record.json say a record reaching into an archived month is archived, where, and how it comes back")
    func archivedBatchPage() async throws {
        let fixture = try await WebFixture()
        // As `archive` leaves it for batch A-1's telemetry (the archive itself is tested above).
        try fixture.db.connection.execute("""
            INSERT INTO archived_months (month, archived_by, location, manifest_sha256, samples) VALUES ('2026-11-01', 'qa', '/srv/archive', 'x', 60);
            """)
        try fixture.db.connection.execute("""
            INSERT INTO archived_ranges (month, site, epoch, stream, seq_from, seq_to, samples)
            SELECT '2026-11-01', site, epoch, stream, 1, 60, 60 FROM streams WHERE site = 'site-a' AND stream = 'rocker-1/telemetry'
            """)
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)
        let path = "/batches/\(WebFixture.site)/\(WebFixture.batch)"
        let page = try await web.get(path)
        #expect(page.status == 409 && page.body.contains("is archived (2026-11 in /srv/archive)") && page.body.contains("pocare-control restore"),
                "\(page.status) \(page.body.prefix(400))")
        #expect(!page.body.contains("name=\"meaning\""), "no signature is offered")
        let record = try await web.get(path + "/record.json")
        #expect(record.status == 409 && record.body.contains("is archived"), "\(record.status) \(record.body.prefix(300))")
    }

    static func month(after month: String) -> String? {
        let parts = month.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2 else { return nil }
        return parts[1] == 12 ? String(format: "%04d-01", parts[0] + 1) : String(format: "%04d-%02d", parts[0], parts[1] + 1)
    }

    func sha256OfFile(_ path: String) throws -> String {
        SHA256.hex(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    @Test("a month kept as chunks: its certified batch hashes as signed and is not marked changed; archived as rows from the chunks, restored, it hashes as signed")
    func chunkedMonth() throws {
        let (db, _, signedHash, _, _) = try network()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let total = try db.count("SELECT count(*) FROM samples")
        let compacted = try control(db, ["compact", "--older-than", "3600", "--prove"])
        #expect(compacted.status == 0 && compacted.output.contains("90 samples of 2 streams kept as chunks now"), "\(compacted.output)")
        // Proved: the same records before and after, each as it reads back.
        let proof = try #require(compacted.output.split(separator: "\n").first { $0.hasPrefix("records held:") }, "\(compacted.output)")
        #expect(proof.contains("\(total) before, \(total) after"), "\(proof)")
        let sums = proof.split(separator: "(").last.map { $0.split(separator: " ").filter { $0.allSatisfy { $0.isNumber || $0 == "-" } && !$0.isEmpty } } ?? []
        #expect(sums.count == 2 && sums[0] == sums[1] && sums[0] != "0", "\(proof)")
        #expect(try db.count("SELECT count(*) FROM samples WHERE time < '2026-11-01'") == 0)
        #expect(try db.count("SELECT sum(n) FROM sample_chunks_2026_09") == 60)
        #expect(try DispositionScenarios.hash(db, "R-SEPT") == signedHash)
        #expect(try db.scalar("SELECT bool_and(record_changed IS NULL) FROM batch_dispositions WHERE batch = 'R-SEPT'") == "t")

        let archived = try control(db, ["archive", "--before", "2026-10", "--to", directory])
        #expect(archived.status == 0 && archived.output.contains("2026-09: 60 samples of 1 streams, 1 batches"), "\(archived.output)")
        #expect(try db.scalar("SELECT to_regclass('sample_chunks_2026_09') IS NULL AND to_regclass('samples_2026_09') IS NULL") == "t")
        let rows = try String(contentsOfFile: "\(directory)/samples-2026-09.copy", encoding: .utf8)
        #expect(rows.split(separator: "\n").count == 60)

        let restored = try control(db, ["restore", "--month", "2026-09", "--from", directory])
        #expect(restored.status == 0 && restored.output.contains("60 samples of 1 streams restored"), "\(restored.output)")
        #expect(try DispositionScenarios.hash(db, "R-SEPT") == signedHash)
        // Back as rows, settled: kept as chunks again, and still the same record.
        let again = try control(db, ["compact", "--older-than", "3600"])
        #expect(again.output.contains("60 samples of"), "\(again.output)")
        #expect(try DispositionScenarios.hash(db, "R-SEPT") == signedHash)
    }
}
