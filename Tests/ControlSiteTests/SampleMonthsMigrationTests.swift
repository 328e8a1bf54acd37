@testable import ControlSiteRecords
import Foundation
import Logging
import Testing
import TestSupport

@Suite("Samples moved into month partitions by the schema migration")
struct SampleMonthsMigrationTests {
    @Test("a database of the schema before month partitions keeps every sample, byte for byte, each in its month's partition")
    func everyRowMoved() throws {
        let cluster = try TestPostgres()
        let connection = try PostgresConnection(try cluster.createDatabase())
        let before = ControlSchema.migrations.count + QualitySchema.migrations.count + ConfirmationSchema.migrations.count
        try connection.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())")
        for version in 1...before {
            try connection.executeScript(ControlSchema.allMigrations[version - 1])
            try connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [String(version)])
        }
        // Samples of two months and a leap day, with every optional column empty in some and odd JSON in others.
        try connection.execute("""
            INSERT INTO samples (site, epoch, stream, seq, device, time, cycle, batch, phase, spec, "values", quality, hash, previous_hash, time_ns, raw)
            SELECT 'site-a', 'e1', 'str-1/telemetry', n, 'str-1', timestamptz '2026-09-30T23:59:50Z' + n * interval '1 second',
                   CASE WHEN n % 3 = 0 THEN NULL ELSE n END, CASE WHEN n < 15 THEN 'B-1' END, 'expansion', NULL,
                   ('{"temperature": ' || (37 + n / 100.0) || ', "note": "tab\\there"}')::json,
                   CASE WHEN n % 5 = 0 THEN '{"ph":"bad_communication"}'::json END, md5(n::text), md5((n - 1)::text), n * 1000, NULL::json
            FROM generate_series(1, 20) n
            UNION ALL
            SELECT 'site-b', '', 'rocker-1/telemetry', 1, 'rocker-1', '2028-02-29T12:00:00Z', 1, NULL, NULL, NULL, '{}'::json, NULL::json, NULL, NULL, NULL, NULL::json
            """)
        let rows = "SELECT s::text AS row FROM samples s ORDER BY site, epoch, stream, seq"
        let held = try connection.execute(rows).map { $0.string("row") ?? "" }

        let found = try ControlSchema.migrate(connection, logger: Logger(label: "test"))
        #expect(found == before)
        #expect(try connection.execute(rows).map { $0.string("row") ?? "" } == held)
        let partitions = try connection.execute("""
            SELECT c.relname || ' ' || (SELECT count(*) FROM samples s WHERE s.tableoid = c.oid) AS p
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass ORDER BY c.relname
            """).map { $0.string("p") ?? "" }
        #expect(partitions == ["samples_2026_09 9", "samples_2026_10 11", "samples_2028_02 1", "samples_default 0"])
        #expect(try connection.execute("SELECT to_regclass('samples_unpartitioned') IS NULL AS gone").bool(0, "gone") == true)
    }
}
