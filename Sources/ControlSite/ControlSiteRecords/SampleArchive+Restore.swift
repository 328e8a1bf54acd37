import Foundation
import Hashing
import Logging
import POCareContract

/// Bringing an archived month back (docs/control-site.md, "Months and archives"): only the
/// archive that was taken, proved row by row, with the copies of its records that arrived while
/// it was away compared with them.
extension SampleArchive {
    /// A month brought back, and what was found of the copies set aside while it was away.
    public struct Restored: Sendable {
        public var manifest: SampleArchiveManifest
        /// Copies received while the month was archived: compared with the records now back, of those differing, and not comparable
        /// (without a hash, or cut short).
        public var copiesCompared = 0, copiesDiffering = 0, copiesNotCompared = 0
    }

    /// Brings `month` back from `directory`: the manifest must be the one recorded when it was
    /// archived, the file must hash to what the manifest says, and every stream's rows as the
    /// database then holds them must digest to the manifest's, or nothing is attached.
    public static func restore(month: String, from directory: String, by user: String, on connection: PostgresConnection,
                               logger: Logger) throws -> Restored {
        guard let part = partition(month) else { throw Refusal(description: "expected a month as YYYY-MM, not '\(month)'") }
        return try exclusively(on: connection) {
            let manifest = try provenManifest(month: month, part: part, directory: directory, on: connection)
            let manifestHash = manifest.hash, rows = manifest.manifest
            var restored = Restored(manifest: rows)
            try connection.transaction {
                // The month's streams first, in ingest's order: no copy of their records is set aside
                // after the comparison below and before this commits.
                for s in rows.streams.sorted(by: { ($0.site, $0.epoch, $0.stream) < ($1.site, $1.epoch, $1.stream) }) {
                    try connection.execute("SELECT 1 FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE", [s.site, s.epoch, s.stream])
                }
                // Month partitions are made one at a time; this is one.
                try connection.execute("SELECT pg_advisory_xact_lock(7146353)")
                try connection.execute("CREATE TABLE \(part.name) (LIKE samples INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
                let reader = try ArchiveFileReader(path: "\(directory)/\(rows.file)")
                let list = rows.columns.map { "\"\($0)\"" }.joined(separator: ", ")
                try connection.copy("COPY \(part.name) (\(list)) FROM STDIN", pieces: { try reader.next() })
                try connection.execute("ALTER TABLE \(part.name) ADD PRIMARY KEY (site, epoch, stream, seq, time)")
                var digests = try StreamRowDigests(columns: rows.columns)
                try connection.copyOut(rowsInOrder(part.name, rows.columns)) { try digests.add($0) }
                func keyed(_ ranges: [SampleArchiveManifest.StreamRange]) -> [String: SampleArchiveManifest.StreamRange] {
                    Dictionary(ranges.map { ("\($0.site)\u{0}\($0.epoch)\u{0}\($0.stream)", $0) }, uniquingKeysWith: { a, _ in a })
                }
                let held = keyed(digests.finish()), expected = keyed(rows.streams)
                guard held == expected, digests.rows == rows.samples else {
                    let differing = expected.keys.sorted().first { held[$0] != expected[$0] }.map { $0.replacingOccurrences(of: "\u{0}", with: " ") }
                    throw Refusal(description: "\(month): the rows restored do not match the manifest (\(digests.rows) samples, "
                                  + "manifest \(rows.samples); first difference: \(differing ?? "the streams listed")): not restored")
                }
                // Records of the month that arrived after it was archived wait in the default partition.
                try connection.execute("SELECT samples_move_from_default($1::text, $2::timestamptz, $3::timestamptz)", [part.name, part.from, part.to])
                try connection.execute("ALTER TABLE samples ATTACH PARTITION \(part.name) FOR VALUES FROM ('\(part.from)') TO ('\(part.to)')")
                // Nor does an attach: the month's batches are marked changed, as at the archive.
                try connection.execute("SELECT batch_record_touch(site, batch) FROM (SELECT DISTINCT site, batch FROM \(part.name) WHERE batch IS NOT NULL) b")
                let copies = try compareSetAsideCopies(month: month, streams: rows.streams, on: connection)
                (restored.copiesCompared, restored.copiesDiffering, restored.copiesNotCompared) = copies
                if copies.differing > 0 {
                    logger.error("copies received while a month was archived differ from its records", metadata: [
                        "month": "\(month)", "differing": "\(copies.differing)", "compared": "\(copies.compared)",
                    ])
                }
                try connection.execute("DELETE FROM archived_months WHERE month = $1::date", [String(part.from.prefix(10))])
                try ControlAuditTrail.append(ControlAuditAction(
                    user: user, action: "samples.restore", target: month,
                    newValue: "\(rows.samples) samples of \(rows.streams.count) streams from \(directory), manifest SHA-256 \(manifestHash)"),
                    to: connection)
            }
            logger.notice("month of samples restored", metadata: ["month": "\(month)", "samples": "\(rows.samples)", "from": "\(directory)"])
            return restored
        }
    }

    /// Copies of the month's records that arrived while it was archived (set aside by ingest, and
    /// not compared before), each compared by its hash with the record now back: one that differs
    /// is a `conflicting_duplicate` finding, as it would have been on arrival. Hashes were
    /// recomputed from the copies' content when they arrived, so equal hashes are equal records.
    /// A copy without a hash, or cut short where the set-aside text was cut, is counted, not compared.
    static func compareSetAsideCopies(month: String, streams: [SampleArchiveManifest.StreamRange],
                                      on connection: PostgresConnection) throws -> (compared: Int, differing: Int, notCompared: Int) {
        var compared = 0, differing = 0, notCompared = 0
        for range in streams {
            let aside = try connection.execute("""
                UPDATE records_set_aside SET compared = now()
                WHERE reason = 'archived_month' AND compared IS NULL AND site = $1 AND epoch = $2 AND stream = $3 AND seq BETWEEN $4 AND $5
                RETURNING id, record
                """, [range.site, range.epoch, range.stream, String(range.seqFrom), String(range.seqTo)])
            for row in aside.map({ $0 }).sorted(by: { ($0.int("id") ?? 0) < ($1.int("id") ?? 0) }) {
                for line in (row.string("record") ?? "").split(separator: "\n") {
                    guard let copy = try? JSONFields(Array(line.utf8)), let seq = copy.int("seq"), let hash = copy.string("hash") else {
                        notCompared += 1
                        continue
                    }
                    let stored = try connection.execute(
                        "SELECT hash FROM stream_samples($1, $2, $3, $4::bigint, $4::bigint)",
                        [range.site, range.epoch, range.stream, String(seq)])
                    compared += 1
                    guard stored.rowCount == 0 || stored.string(0, "hash") != hash else { continue }
                    differing += 1
                    try connection.execute("""
                        INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                        VALUES ('conflicting_duplicate', $1, $2, $3, $4, $4, $5)
                        ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                            occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail, resolved = NULL
                        """, [range.site, range.epoch, range.stream, String(seq),
                              "a copy of record \(seq) received while \(month) was archived differs from the restored record: "
                                  + "hash \(hash.prefix(16)), record \(stored.string(0, "hash")?.prefix(16) ?? "none")"])
                }
            }
        }
        return (compared, differing, notCompared)
    }

    /// The month's manifest in `directory`, proved to be the one recorded when it was archived,
    /// with its rows' file hashing to what it says.
    static func provenManifest(month: String, part: (name: String, from: String, to: String), directory: String,
                               on connection: PostgresConnection) throws -> (manifest: SampleArchiveManifest, hash: String) {
        let manifestPath = "\(directory)/\(SampleArchiveManifest.fileName(month: month))"
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw Refusal(description: "\(manifestPath): cannot be read")
        }
        let recorded = try connection.execute("SELECT manifest_sha256 FROM archived_months WHERE month = $1::date", [String(part.from.prefix(10))])
        guard let expected = recorded.rowCount > 0 ? recorded.string(0, "manifest_sha256") : nil else {
            throw Refusal(description: "\(month) is not archived")
        }
        let manifestHash = SHA256.hex(Array(manifestData))
        guard manifestHash == expected else {
            throw Refusal(description: "\(manifestPath) is not the manifest recorded when \(month) was archived "
                          + "(SHA-256 \(manifestHash.prefix(16))…, recorded \(expected.prefix(16))…)")
        }
        let manifest: SampleArchiveManifest
        do {
            manifest = try JSONDecoder().decode(SampleArchiveManifest.self, from: manifestData)
        } catch {
            throw Refusal(description: "\(manifestPath): not a manifest (\(error))")
        }
        guard manifest.format == SampleArchiveManifest.formatName, manifest.month == month, !manifest.file.contains("/") else {
            throw Refusal(description: "\(manifestPath): a manifest of \(manifest.month) in format \(manifest.format)")
        }
        let rowsPath = "\(directory)/\(manifest.file)"
        let fileHash = try ArchiveFileReader.sha256(path: rowsPath)
        guard fileHash == manifest.fileSHA256 else {
            throw Refusal(description: "\(rowsPath) has SHA-256 \(fileHash.prefix(16))…, the manifest says \(manifest.fileSHA256.prefix(16))…: not restored")
        }
        let current = try columns(on: connection)
        guard Set(manifest.columns).isSubset(of: Set(current)) else {
            throw Refusal(description: "\(manifestPath): columns \(Set(manifest.columns).subtracting(current).sorted()) are not samples' columns")
        }
        return (manifest, manifestHash)
    }
}
