import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

@Suite("Batch disposition over a real PostgreSQL, through the command line", .serialized)
struct DispositionTests {
    func control(_ db: IngestDatabase, _ arguments: [String], as user: String) throws -> (status: Int32, output: String) {
        try runCommand("pocare-control", arguments + ["--user", user, "--database", db.connectionInfo], input: passwordInput(), errors: true)
    }

    func sign(_ db: IngestDatabase, _ meaning: String, _ batch: String, as user: String, hash: String? = nil) throws -> (status: Int32, output: String) {
        try control(db, ["disposition", meaning, DispositionScenarios.site, batch, "--hash", try hash ?? DispositionScenarios.hash(db, batch)], as: user)
    }

    @Test("the server refuses every signature the rules forbid, each with its reason and an audit entry; QA then the QP certify a clean batch")
    func refusals() throws {
        let db = try IngestDatabase(signing: [DispositionScenarios.site])
        let spec = try db.releaseExampleSpec()
        try DispositionScenarios.prepare(db, spec: spec)
        typealias S = DispositionScenarios
        func refused(_ result: (status: Int32, output: String), _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(result.status == 1 && result.output.contains(text), "\(result.output)", sourceLocation: sourceLocation)
        }
        refused(try sign(db, "review", S.running, as: "quinn"), "the batch runs")
        refused(try sign(db, "review", S.differs, as: "quinn"), "not verified against the data held here")
        refused(try sign(db, "certify", S.clean, as: "petra"), "QA reviews the record before the QP")
        refused(try sign(db, "certify", S.clean, as: "quinn"), "may not certify")
        refused(try sign(db, "review", S.clean, as: "quinn", hash: String(repeating: "0", count: 64)), "the record changed since you opened it")
        // Reviewed by a QP: that QP does not certify it too.
        #expect(try sign(db, "review", S.clean2, as: "petra").status == 0)
        refused(try sign(db, "certify", S.clean2, as: "petra"), "another QP certifies or rejects it")
        refused(try sign(db, "review", S.clean2, as: "quinn"), "a QA review of this record stands already")
        for batch in [S.deviation, S.nonconforming, S.gap, S.unmonitored, S.unsigned, S.clean] {
            let reviewed = try sign(db, "review", batch, as: "quinn")
            #expect(reviewed.status == 0, "\(batch): \(reviewed.output)")
        }
        refused(try sign(db, "certify", S.deviation, as: "petra"), "open deviations: DEV-")
        refused(try sign(db, "certify", S.nonconforming, as: "petra"), "not registered in the POC Master File")
        refused(try sign(db, "certify", S.gap, as: "petra"), "open integrity findings: gap")
        refused(try sign(db, "certify", S.unmonitored, as: "petra"), "not covered by a closed deviation")
        refused(try sign(db, "certify", S.unsigned, as: "petra"), "records not covered by a checkpoint the site signed: str-10/")
        // A rejection is not gated on the facts: a QP rejects what should not be released.
        #expect(try sign(db, "reject", S.deviation, as: "petra").status == 0)

        let certified = try sign(db, "certify", S.clean, as: "petra")
        #expect(certified.status == 0 && certified.output.contains("certified for release by the QP"))
        refused(try sign(db, "reject", S.clean, as: "paula"), "certified already")
        refused(try sign(db, "certify", S.clean, as: "paula"), "certified already")
        #expect(try control(db, ["disposition", "withdraw", S.site, S.clean, "--reason", "sterility result out of specification"], as: "quinn").status == 1)
        #expect(try control(db, ["disposition", "withdraw", S.site, S.clean, "--reason", "sterility result out of specification"], as: "paula").status == 0)
        let after = try runCommand("pocare-control", ["batch", S.site, S.clean, "--database", db.connectionInfo])
        #expect(after.output.contains("QA reviewed, awaiting the QP") && after.output.contains("WITHDRAWN"))
        #expect(try sign(db, "reject", S.clean, as: "paula").status == 0)

        let trail = try ControlAuditTrail.entries(db.connection)
        #expect(trail.filter { $0.action.action == "batch.sign.refused" }.count == 14)
        #expect(trail.contains { $0.action.action == "batch.withdraw" && $0.action.user == "paula" })
        #expect(trail.contains { $0.action.action == "batch.withdraw.refused" && $0.action.user == "quinn" })
        // The database holds the same rules whoever writes: a second QA review of a record, a certification without one.
        func insert(_ batch: String, _ user: String, _ role: String, _ meaning: String) throws {
            try db.connection.execute("""
                INSERT INTO batch_signatures (site, batch, user_name, full_name, role, meaning, comment, signed, record_hash)
                VALUES ('site-a', $1, $2, 'x', $3, $4, '', now(), $5)
                """, [batch, user, role, meaning, try DispositionScenarios.hash(db, batch)])
        }
        #expect(throws: PostgresError.self) { try insert(S.running, "paula", "qp", "certified") }
        #expect(throws: PostgresError.self) { try insert(S.clean2, "alex", "qa", "reviewed") }
        #expect(throws: PostgresError.self) { try insert(S.clean2, "petra", "qp", "certified") }
        #expect(throws: PostgresError.self) { try db.connection.execute("DELETE FROM batch_signatures") }
    }

    @Test("wrong passwords at a command-line signature count toward the throttle: after five, even the right one waits, and nothing is signed")
    func commandLineThrottle() throws {
        let db = try IngestDatabase(signing: [DispositionScenarios.site])
        let spec = try db.releaseExampleSpec()
        try DispositionScenarios.prepare(db, spec: spec)
        let batch = DispositionScenarios.clean, hash = try DispositionScenarios.hash(db, batch)
        func review(_ password: String) throws -> (status: Int32, output: String) {
            try runCommand("pocare-control", ["disposition", "review", DispositionScenarios.site, batch, "--hash", hash, "--user", "quinn",
                                              "--database", db.connectionInfo], input: password + "\n", errors: true)
        }
        for _ in 0..<5 {
            let wrong = try review("not the password")
            #expect(wrong.status == 1 && wrong.output.contains("the password is not correct"), "\(wrong.output)")
        }
        let waiting = try review(IngestDatabase.qualityPassword)
        #expect(waiting.status == 1 && waiting.output.contains("too many wrong passwords lately") && waiting.output.contains("Nothing was signed"),
                "\(waiting.output)")
        #expect(try db.count("SELECT count(*) FROM batch_signatures") == 0)
        let trail = try ControlAuditTrail.entries(db.connection)
        #expect(trail.filter { $0.action.action == "batch.sign.refused" && $0.action.newValue?.hasPrefix("from command line (") == true }.count == 5)
        #expect(trail.contains { $0.action.action == "batch.sign.throttled" && $0.action.user == "quinn" })
    }

    @Test("batches filters by state with counts, and batch prints the exceptions first and every event in words")
    func batchesAndBatch() throws {
        let db = try IngestDatabase(signing: [DispositionScenarios.site])
        let spec = try db.releaseExampleSpec()
        try DispositionScenarios.prepare(db, spec: spec)
        #expect(try sign(db, "review", DispositionScenarios.clean, as: "quinn").status == 0)
        let list = try runCommand("pocare-control", ["batches", "--database", db.connectionInfo])
        #expect(list.output.hasPrefix("running 1 · awaiting_qa 7 · awaiting_qp 1 · certified 0 · rejected 0 · invalid 0"), "\(list.output)")
        let awaiting = try runCommand("pocare-control", ["batches", "--state", "awaiting_qp", "--json", "--database", db.connectionInfo])
        #expect((jsonValue(awaiting.output) as? [[String: Any]])?.map { $0["batch"] as? String } == [DispositionScenarios.clean])

        let gap = try runCommand("pocare-control", ["batch", DispositionScenarios.site, DispositionScenarios.gap, "--database", db.connectionInfo])
        #expect(gap.status == 1 && gap.output.contains("REVIEW BY EXCEPTION: ") && gap.output.contains("FAIL Integrity of the data"))
        let clean = try runCommand("pocare-control", ["batch", DispositionScenarios.site, DispositionScenarios.clean2, "--database", db.connectionInfo])
        #expect(clean.status == 0 && clean.output.contains("REVIEW BY EXCEPTION: no exceptions"), "\(clean.output)")
        #expect(clean.output.contains("the site's batch record") && !clean.output.contains("{\""), "events in words, not JSON")
    }
}
