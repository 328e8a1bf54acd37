import ArgumentParser
import ControlSiteRecords
import Foundation
import Logging

struct Archive: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write each month of samples before MONTH to DIR with a manifest of counts and hashes, and drop it from the database. Audited.",
        discussion: """
            Only an ended, settled month goes: every batch with samples in it certified or rejected (its record unchanged \
            since), no open dispute on its records, every stream complete through them. A month refused leaves the others \
            to go; the exit code is then 1. A batch whose records reach into an archived month is shown as archived, not \
            hashed, until `restore` brings the month back.
            Files per month: samples-MONTH.copy (COPY text) and samples-MONTH.manifest.json.
            Example:
              pocare-control archive --before 2026-07 --to /srv/pocare-archive/2026
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Archive the months before this one (YYYY-MM, UTC).") var before: String
    @Option(help: "The directory to write (created if missing).") var to: String

    func run() throws {
        let connection = try db.connect()
        let logger = Logger(label: "pocare-control.archive")
        let months: [String]
        do {
            months = try SampleArchive.months(before: before, on: connection)
        } catch let refusal as SampleArchive.Refusal {
            note(refusal.description)
            throw ExitStatus.failure
        }
        if months.isEmpty { emit("no ended month of samples before \(before) is held") }
        // Each month on its own: one that is not settled leaves the others to go.
        var refused = 0
        for month in months {
            do {
                let manifest = try SampleArchive.archive(month: month, to: to, by: unixUser(), on: connection, logger: logger)
                emit("\(month): \(manifest.samples) samples of \(manifest.streams.count) streams, \(manifest.batches.count) batches "
                     + "written to \(to)/\(manifest.file) (SHA-256 \(manifest.fileSHA256)) and dropped")
            } catch let refusal as SampleArchive.Refusal {
                note(refusal.description)
                refused += 1
            }
        }
        if refused > 0 { throw ExitStatus.failure }
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring an archived month of samples back from DIR, after proving it is the archive that was taken. Audited.",
        discussion: """
            The manifest must be the one recorded when the month was archived, the rows' file must hash to what it \
            says, and every stream's rows as restored must digest to the manifest's, or nothing is attached.
            Example:
              pocare-control restore --month 2026-05 --from /srv/pocare-archive/2026
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "The month to restore (YYYY-MM).") var month: String
    @Option(help: "The directory the month was archived to.") var from: String

    func run() throws {
        let connection = try db.connect()
        do {
            let restored = try SampleArchive.restore(month: month, from: from, by: unixUser(), on: connection,
                                                     logger: Logger(label: "pocare-control.archive"))
            let manifest = restored.manifest
            emit("\(month): \(manifest.samples) samples of \(manifest.streams.count) streams restored and proved against the manifest")
            if restored.copiesCompared + restored.copiesNotCompared > 0 {
                emit("copies received while it was archived: \(restored.copiesCompared) compared with the records, \(restored.copiesDiffering) "
                     + "differ (each a conflicting_duplicate finding), \(restored.copiesNotCompared) not comparable (no hash, or cut short)")
            }
            if restored.copiesDiffering > 0 { throw ExitStatus.failure }
        } catch let refusal as SampleArchive.Refusal {
            note(refusal.description)
            throw ExitStatus.failure
        }
    }
}
