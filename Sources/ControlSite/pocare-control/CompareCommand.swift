import ArgumentParser
import ControlSiteRecords
import POCareContract
import Foundation
import POCareConfig

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Comparability of sites against a reference site, batch by batch (ICH Q5E; FDA tiered approach).",
        discussion: """
            Each batch that ran the spec in the phase gets, per parameter, its time-weighted mean and SD, the shares of
            monitored time in range, in the alert band and beyond action limits, its excursions and their duration, and
            its unmonitored share. Each site is then judged on its batch means: the quality range (reference mean ± K
            reference SD; at least 90% of batches inside) and, where both sites have enough batches, TOST on the
            difference of means with a margin of 1.5 reference SD. Exit code 1 when any site is flagged.
            Examples:
              pocare-control compare --spec 3f2a9c01b7e4 --phase expansion --reference site-a
              pocare-control compare --spec 3f2a9c01b7e4 --phase expansion --reference site-a --since 2026-10-01 --csv
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Fingerprint (or its first 12 hex digits) of a spec in the register.") var spec: String
    @Option(help: "The phase whose limits apply.") var phase: String
    @Option(help: "The reference site.") var reference: String
    @Option(help: "Only samples from this UTC time on (YYYY-MM-DD or ISO 8601).") var since: String?
    @Option(help: "K of the quality range, reference mean ± K reference SD.") var k = 3.0
    @Option(help: "Fewest batches a site needs to be judged.") var minBatches = 3
    @Option(help: "Folder of device profiles the spec is read against (default: ./DeviceProfiles, else the installed ones).")
    var profiles: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print one CSV row per batch and parameter.") var csv = false

    func run() throws {
        if json && csv { throw ValidationError("choose --json or --csv") }
        let sinceSeconds = try since.map { text -> Double in
            guard let d = parseUTC(text) else { throw ValidationError("--since: '\(text)' is not a date (YYYY-MM-DD or ISO 8601)") }
            return d.timeIntervalSince1970
        }
        let connection = try db.connect()
        let stored = try connection.execute("""
            SELECT fingerprint, spec_text FROM released_specs
            WHERE fingerprint LIKE $1 || '%' ORDER BY fingerprint
            """, [spec.hasPrefix("sha256:") ? spec : "sha256:" + spec])
        guard stored.rowCount == 1, let text = stored.string(0, 1) else {
            note(stored.rowCount == 0 ? "no spec \(spec) in the register (pocare-control specs list)" : "\(spec) is ambiguous; give more digits")
            throw ExitStatus.failure
        }
        let folder = profiles ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
        let parsed = SpecLoader.parse(text, file: stored.string(0, 0)!, profiles: SpecLoader.profileCatalogue(directory: folder))
        guard let ipcSpec = parsed.spec else {
            for d in parsed.diagnostics { note(d.description) }
            throw ExitStatus.failure
        }
        var settings = Comparability.Settings()
        settings.k = k
        settings.minimumBatches = minBatches
        let report: ComparisonReport
        do {
            report = try ComparisonReport.load(connection, spec: ipcSpec, phase: phase, reference: reference, since: sinceSeconds, settings: settings)
        } catch let refusal as SpecRegister.Refusal {
            note(refusal.description)
            throw ExitStatus.failure
        }
        if json {
            try emitJSON(report)
        } else if csv {
            FileHandle.standardOutput.write(Data(report.csv().utf8))
        } else {
            emit("spec \(report.spec), phase \(report.phase), reference \(report.reference), \(report.batches.count) batches")
            for parameter in Set(report.sites.map(\.parameter)).sorted() {
                emit("")
                emit(parameter)
                emitTable(
                    ["SITE", "BATCHES", "MEAN", "SD", "INSIDE QR", "TOST DIFF [90% CI]", "VERDICT"],
                    report.sites.filter { $0.parameter == parameter }.map { s in
                        [s.site, String(s.batches), number(s.mean), number(s.standardDeviation),
                         s.insideShare.map { "\(Int(($0 * 100).rounded()))%" } ?? "-",
                         s.equivalence.map { "\(number($0.difference)) [\(number($0.lower)), \(number($0.upper))]" } ?? "-",
                         (s.isReference ? "reference" : s.flagged ? "FLAGGED" : s.tooFewBatches ? "too few batches" : "comparable")
                            + ": " + s.reasons.joined(separator: "; ")]
                    })
            }
        }
        if report.sites.contains(where: \.flagged) { throw ExitStatus.failure }
    }
}

func number(_ x: Double?) -> String {
    guard let x else { return "" }
    return String(format: "%.4g", x)
}


/// `YYYY-MM-DD` (midnight UTC) or full ISO 8601.
func parseUTC(_ text: String) -> Date? {
    let full = ISO8601DateFormatter()
    if let d = full.date(from: text) { return d }
    full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = full.date(from: text) { return d }
    let day = ISO8601DateFormatter()
    day.formatOptions = [.withFullDate]
    return day.date(from: text)
}
