import ArgumentParser
import ComparabilityMethod
import ControlSiteRecords
import ControlSiteWeb
import Foundation
import POCareConfig

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Comparability of sites with the reference site for one spec, equipment model and phase (ICH Q5E; FDA tiered approach).",
        discussion: """
            The reference is the reference site's certified batches (at least 3). Each batch's summaries come from the
            site's batch record; batches running, without a verified record, of another equipment model, with a spec not
            released, with unmonitored time above the limit or nonconforming are listed as excluded with the reason.
            Per parameter: Tier 2, each test batch's mean inside the reference mean ± k SD; Tier 1, TOST on the difference
            of means (margin 1.5 reference SD), only from 3 test batches and where its power reaches 80%; Tier 3, each
            batch's trajectory against the reference envelope per time bucket (per bucket of the progress variable where
            the spec's comparability section names one for the phase); a paired comparison where batches share a
            starting material; Hotelling's T² per batch where the reference has more batches than parameters. The SD is
            at least a floor per parameter (shown). Exit code 1 when a site is not comparable.
            Examples:
              pocare-control compare --spec 3f2a9c01b7e4 --phase expansion --reference site-a --profile stirred-tank-str10
              pocare-control compare --spec 3f2a9c01b7e4 --phase expansion --reference site-a --setting ph.floor=band:0.1 --csv
              pocare-control compare --spec 3f2a9c01b7e4 --phase expansion --reference site-a --kind yearly --site site-b --save
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Fingerprint (or its first 12 hex digits) of a spec in the register.") var spec: String
    @Option(help: "The phase compared.") var phase: String
    @Option(help: "The reference site.") var reference: String
    @Option(help: "The equipment model (device profile id); default: the one model the batch records name.") var profile: String?
    @Option(help: "A test site (repeat for several); default: every site.") var site: [String] = []
    @Option(help: "Only batches that started from this UTC time on (YYYY-MM-DD or ISO 8601).") var since: String?
    @Option(help: "qualification, or yearly (batches from split starting materials, compared as pairs).") var kind = "qualification"
    @Flag(help: "List nonconforming batches for information (drawn, never judged).") var includeNonconforming = false
    @Option(help: "Width of a trajectory bucket in seconds since phase start.") var bucket = 60.0
    @Option(help: "Largest unmonitored share of the phase a batch may have, in percent.") var maxUnmonitored = 5.0
    @Option(help: "Per parameter: PARAMETER.KEY=VALUE, keys tiers, k, margin, floor (resolution, band:F or a number), envelope-k, envelope-share.")
    var setting: [String] = []
    @Option(help: "Folder of device profiles (default: ./DeviceProfiles, else the installed ones).") var profiles: String?
    @Flag(help: "Store the report for QA's signature (printed with its id).") var save = false
    @Flag(help: "Print the whole report as JSON.") var json = false
    @Flag(help: "Print the inputs, one CSV row per batch and parameter.") var csv = false
    @Flag(help: "Print the trajectories compared, one CSV row per batch, parameter and bucket.") var trajectoriesCsv = false
    @Flag(help: "Align trajectories by time since phase start even where the spec names a progress variable for the phase.")
    var alignByTime = false

    func validate() throws {
        if [json, csv, trajectoriesCsv].filter({ $0 }).count > 1 { throw ValidationError("choose one of --json, --csv, --trajectories-csv") }
        guard ComparisonRequest.Kind(rawValue: kind) != nil else { throw ValidationError("--kind: qualification or yearly") }
        guard bucket.isFinite, bucket >= 1, bucket <= 86_400 else { throw ValidationError("--bucket: 1 to 86400 seconds") }
        guard maxUnmonitored.isFinite, (0...100).contains(maxUnmonitored) else { throw ValidationError("--max-unmonitored: 0 to 100 percent") }
    }

    func run() throws {
        let sinceSeconds = try since.map { text -> Double in
            guard let d = parseUTC(text) else { throw ValidationError("--since: '\(text)' is not a date (YYYY-MM-DD or ISO 8601)") }
            return d.timeIntervalSince1970
        }
        let overrides: [String: ParameterOverride]
        do { overrides = try ParameterOverride.parse(setting) } catch { throw ValidationError(error.description) }
        let connection = try db.connect()
        let folder = profiles ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
        let catalogue = SpecLoader.profileCatalogue(directory: folder)
        let stored = try connection.execute(
            "SELECT fingerprint, spec_text FROM released_specs WHERE fingerprint LIKE $1 || '%' ORDER BY fingerprint",
            [spec.hasPrefix("sha256:") ? spec : "sha256:" + spec])
        guard stored.rowCount == 1, let fingerprint = stored.string(0, "fingerprint"), let text = stored.string(0, "spec_text") else {
            note(stored.rowCount == 0 ? "no spec \(spec) in the register (pocare-control specs list)" : "\(spec) is ambiguous; give more digits")
            throw ExitStatus.failure
        }
        let parsed = SpecLoader.parse(text, file: fingerprint, profiles: catalogue)
        guard let ipcSpec = parsed.spec else {
            for d in parsed.diagnostics { note(d.description) }
            throw ExitStatus.failure
        }
        var request = ComparisonRequest(spec: ipcSpec, phase: phase, reference: reference)
        request.profile = profile
        request.sites = site
        request.since = sinceSeconds
        request.kind = ComparisonRequest.Kind(rawValue: kind)!
        request.includeNonconforming = includeNonconforming
        request.settings.bucketSeconds = bucket
        request.alignByTime = alignByTime
        request.settings.maximumUnmonitoredShare = maxUnmonitored / 100
        request.overrides = overrides
        request.profiles = catalogue
        let report: ComparisonReport
        do {
            // A report stored for QA's signature is read from the rows, never from what was kept for pages.
            report = try ComparisonReport.load(connection, request: request, freshChecks: save) { site, batch in
                try BatchRecordDigest.current(site: site, batch: batch, fresh: save, on: connection)
            }
        } catch let refusal as ComparisonReport.Refusal {
            note(refusal.description)
            throw ExitStatus.failure
        } catch let refusal as QualityRefusal {
            // A batch whose record is archived in part: not compared on what is left of it.
            note(refusal.message)
            throw ExitStatus.failure
        }
        if json {
            emit(String(decoding: try report.canonicalJSON(pretty: true), as: UTF8.self))
        } else if csv {
            FileHandle.standardOutput.write(Data(report.csv().utf8))
        } else if trajectoriesCsv {
            FileHandle.standardOutput.write(Data(report.trajectoriesCSV().utf8))
        } else {
            ComparisonText.print(report)
        }
        if save {
            let id = try StoredComparisons.store(report, by: unixUser(), on: connection)
            note("stored as comparison \(id) for QA's signature (the web page /comparisons/\(id))")
        }
        if report.judgements.contains(where: { $0.verdict == .notComparable }) { throw ExitStatus.failure }
    }
}

func number(_ x: Double?) -> String {
    guard let x, x.isFinite else { return "-" }
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
