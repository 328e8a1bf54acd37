import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

/// Someone with shell access edits the store with the sqlite3 command-line tool (dropping the
/// triggers that forbid it first); `pocarectl audit verify` must find and name each change.
@Suite("Audit trail tampering, found by pocarectl audit verify", .serialized)
struct AuditTamperTests {
    func storeWithFiveEntries() async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-tamper-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SiteStore(settings: SiteStore.Settings(path: directory.appendingPathComponent("site.db").path))
        for n in 1...5 {
            _ = try await store.audit(AuditAction(
                user: "operator\(n)", action: "alarm.acknowledge", target: "rocker-1/temperature/limit", reason: "checked \(n)"))
        }
        store.close()
        return directory
    }

    func tamper(_ sql: String) async throws -> ProcessResult {
        let directory = try await storeWithFiveEntries()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("site.db").path
        #expect(runStatus("/usr/bin/sqlite3", [path, sql]) == 0, "sqlite3 \(sql)")
        return try run("pocarectl", ["audit", "verify", "--store", path])
    }

    @Test("an untouched trail verifies")
    func untouched() async throws {
        let directory = try await storeWithFiveEntries()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try run("pocarectl", ["audit", "verify", "--store", directory.appendingPathComponent("site.db").path])
        #expect(result.status == 0)
        // Five entries written by the test, after the store's own record of its creation.
        #expect(result.output.hasPrefix("audit trail intact: 6 entries"))
    }

    @Test("a changed entry is named")
    func changed() async throws {
        let result = try await tamper("DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'nothing to see' WHERE seq = 3;")
        #expect(result.status == 1)
        #expect(result.output.contains("audit trail BROKEN: entry 3 was changed"), "\(result.output)")
    }

    @Test("a deleted entry is named")
    func deleted() async throws {
        let result = try await tamper("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2;")
        #expect(result.status == 1)
        #expect(result.output.contains("audit trail BROKEN: entry 2 was removed"), "\(result.output)")
    }

    @Test("a deleted last entry is named")
    func deletedLast() async throws {
        let result = try await tamper("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 5;")
        #expect(result.status == 1)
        #expect(result.output.contains("entry 5 was removed"), "\(result.output)")
    }

    @Test("an inserted entry is named")
    func inserted() async throws {
        let result = try await tamper("""
            INSERT INTO audit (seq, time_ns, user, action, target, reason, previous_hash, hash)
            SELECT 7, time_ns + 1, 'mallory', 'alarm.acknowledge', target, 'backdated', hash, hash FROM audit WHERE seq = 6;
            """)
        #expect(result.status == 1)
        #expect(result.output.contains("audit trail BROKEN: entry 7 was inserted"), "\(result.output)")
    }

    @Test("an entry replaced by one with a recomputed hash is caught by the next link")
    func replaced() async throws {
        let result = try await tamper("DROP TRIGGER audit_no_update; UPDATE audit SET hash = 'f00d' WHERE seq = 4;")
        #expect(result.status == 1)
        #expect(result.output.contains("entry 4 was changed"), "\(result.output)")
    }

    @Test("a store that does not exist is a clear error")
    func missingStore() throws {
        let result = try run("pocarectl", ["audit", "verify", "--store", "/nonexistent/site.db"])
        #expect(result.status == 1)
        #expect(result.errors.contains("no store at /nonexistent/site.db"))
    }
}
