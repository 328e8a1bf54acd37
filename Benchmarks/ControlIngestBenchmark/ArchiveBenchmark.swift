import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Logging

/// `pocare-control archive` and `restore` at the size of a month of a network: the synthetic
/// network of `pages` (1 Hz, one batch per device running the whole time) is written through
/// the real ingest, each month before the last is archived and restored, and a batch spanning
/// them is hashed before, refused while archived, and hashed again after.
struct ArchiveBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Time archiving and restoring months of samples of a synthetic network, and prove a batch across them unchanged.",
        discussion: """
            The network's batches are marked rejected directly in the database (a month is archived only when its \
            batches are certified or rejected): this measures writing and proving the archive, not signing. Example:
              pocare-control-bench archive --network 1x2x30
            """)

    @Option(help: "SITESxDEVICESxDAYS at 1 Hz, one batch per device; its samples start on 2026-11-18.") var network = "1x2x30"
    @Option(help: "PostgreSQL connection string of an empty database (default: a temporary cluster).") var database: String?
    @Flag(help: "The database given holds the network already (from `pages` or an earlier run with --database).") var loaded = false
    @Option(help: "The directory to archive to (default: a temporary one, removed afterwards).") var to: String?

    func run() throws {
        let shape = try SyntheticNetwork(parsing: network)
        let store = try NetworkDatabase(shape, database: database, loaded: loaded)
        let connection = store.connection, logger = Logger(label: "bench")
        let directory = to ?? FileManager.default.temporaryDirectory.appendingPathComponent("pocare-archive-bench-\(UUID().uuidString)").path
        defer { if to == nil { try? FileManager.default.removeItem(atPath: directory) } }
        try connection.execute("""
            INSERT INTO batch_dispositions (site, batch, state, record_hash)
            SELECT DISTINCT site, batch, 'rejected', 'benchmark' FROM batch_runs ON CONFLICT DO NOTHING
            """)
        let site = shape.site(1), batch = shape.batch(site: 1, device: 1)
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

        var began = clock.now
        let before = try BatchRecordDigest.hash(site: site, batch: batch, on: connection)
        print("batch \(batch): record hash \(before ?? "none") in \(String(format: "%.1f", seconds(clock.now - began))) s")
        let months = try SampleArchive.months(before: "2026-12", on: connection)
        var archived: [SampleArchiveManifest] = []
        for month in months {
            began = clock.now
            let manifest = try SampleArchive.archive(month: month, to: directory, by: "bench", on: connection, logger: logger)
            let elapsed = seconds(clock.now - began)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(manifest.file)")[.size] as? Int) ?? 0
            print("archived \(month): \(manifest.samples) samples of \(manifest.streams.count) streams in \(String(format: "%.1f", elapsed)) s "
                  + "(\(Int(Double(manifest.samples) / elapsed)) samples/s), \(bytes / 1_048_576) MiB of COPY text")
            archived.append(manifest)
        }
        do {
            _ = try BatchRecordDigest.hash(site: site, batch: batch, on: connection)
            throw BenchmarkFailure(message: "batch \(batch) was hashed while part of it was archived")
        } catch let refusal as QualityRefusal {
            print("while archived: \(refusal.message.prefix(120))…")
        }
        let size = try connection.execute("SELECT pg_database_size(current_database()) AS bytes").int(0, "bytes") ?? 0
        print("database while archived: \(size / 1_048_576) MiB")
        for manifest in archived {
            began = clock.now
            _ = try SampleArchive.restore(month: manifest.month, from: directory, by: "bench", on: connection, logger: logger).manifest
            let elapsed = seconds(clock.now - began)
            print("restored \(manifest.month): \(manifest.samples) samples proved against the manifest and attached in "
                  + "\(String(format: "%.1f", elapsed)) s (\(Int(Double(manifest.samples) / elapsed)) samples/s)")
        }
        began = clock.now
        let after = try BatchRecordDigest.hash(site: site, batch: batch, on: connection)
        print("batch \(batch): record hash \(after ?? "none") in \(String(format: "%.1f", seconds(clock.now - began))) s: "
              + (after == before ? "the same as before the archive" : "DIFFERENT"))
        guard after == before else { throw BenchmarkFailure(message: "the batch's record hash changed through archive and restore") }
        withExtendedLifetime(store) {}
    }
}
