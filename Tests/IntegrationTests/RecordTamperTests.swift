import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

/// Someone with shell access edits a copy of a real site store with sqlite3: every change,
/// removal or insertion in any table of records is found by `pocarectl verify`.
@Suite("Tampering with any record, found by pocarectl verify", .serialized)
struct RecordTamperTests {
    /// A store written by the real daemon through an excursion and an acknowledgement.
    static func recordedStore() async throws -> (directory: URL, path: String) {
        let fixture = try DaemonFixture(pollInterval: "100ms", faults: [excursionFault], spec: fastSpec)
        let daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(20)) {
            ((try? StoreReader(path: fixture.storePath).events(batch: "DUR-1")) ?? []).contains { $0.kind == "excursion" }
        })
        _ = try run("pocarectl", ["ack", "rocker-1/temperature/limit", "--reason", "probe checked", "--socket", fixture.socketPath])
        daemon.stop()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-tamper-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let path = copy.appendingPathComponent("site.db").path
        try FileManager.default.copyItem(atPath: fixture.storePath, toPath: path)
        return (copy, path)
    }

    func verify(_ path: String) throws -> ProcessResult { try run("pocarectl", ["verify", "--store", path]) }

    @Test("an untouched store verifies; deleting the raised and excursion events, changing a sample or an acknowledgement's reason does not")
    func tampering() async throws {
        let (directory, path) = try await Self.recordedStore()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clean = try verify(path)
        #expect(clean.status == 0 && clean.output.contains("all records intact"), "\(clean.output)")

        for (sql, expected) in [
            ("DELETE FROM events WHERE kind IN ('raised', 'excursion')", "rocker-1/events: BROKEN"),
            ("UPDATE samples SET readings = readings || x'00' WHERE stream = 'rocker-1/telemetry' AND seq = 5", "rocker-1/telemetry: BROKEN: record 5"),
            ("DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'nothing to see' WHERE action = 'alarm.acknowledge'", "audit: BROKEN"),
            ("DELETE FROM samples WHERE stream = 'str-1/telemetry' AND seq = (SELECT max(seq) FROM samples WHERE stream = 'str-1/telemetry')", "str-1/telemetry: BROKEN"),
        ] {
            let tampered = directory.appendingPathComponent("t-\(UUID().uuidString.prefix(6)).db").path
            try FileManager.default.copyItem(atPath: path, toPath: tampered)
            #expect(runStatus("/usr/bin/sqlite3", [tampered, sql]) == 0, "\(sql)")
            let result = try verify(tampered)
            #expect(result.status == 1, "\(sql)")
            #expect(result.output.contains(expected), "\(sql): \(result.output)")
        }
    }
}
