import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import POCareContract
import Foundation

struct SitesList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every site: online or offline, software version, store epoch, clock, last record, backlog, qualification, open deviations and findings, devices.",
        discussion: """
            Example:
              pocare-control sites --config /etc/pocare/control.yaml
            """)
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let settings = try db.qualitySettings()
        let connection = try db.connect()
        let sites = try SiteOverview.load(connection)
        let quality = try SiteQualityColumns.load(settings: settings, on: connection)
        if json {
            // Each site's overview with its Master File columns beside it; a registered site never seen, with those alone.
            struct Output: Encodable {
                var site: SiteOverview?
                var quality: SiteQualityColumns.Row?
                func encode(to encoder: Encoder) throws {
                    try site?.encode(to: encoder)
                    try quality?.encode(to: encoder)
                }
            }
            let known = Set(sites.map(\.site))
            return try emitJSON(sites.map { Output(site: $0, quality: quality[$0.site]) }
                                + quality.values.filter { !known.contains($0.site) }.sorted { $0.site < $1.site }
                                    .map { Output(site: nil, quality: $0) })
        }
        var rows = sites.map { s -> [String] in
            let q = quality[s.site]
            return [s.site, s.state, s.version ?? "-", s.epoch ?? "-", s.clock?.summary ?? "unknown", s.lastRecordTime ?? "-",
                    formatAge(s.backlogAgeSeconds), q?.qualification ?? "not in the POC Master File", String(q?.openDeviations ?? 0),
                    String(q?.nonconformances ?? 0), String(s.openFindings),
                    s.devices.map { d in
                        let meta = d.metadata.map { " meta \($0.dropFirst(7).prefix(12))\(d.metadataVerified == false ? " MISMATCH" : "")" } ?? ""
                        return "\(d.id) (\(d.profile ?? "?")\(meta))"
                    }.joined(separator: ", ")]
        }
        for q in quality.values.sorted(by: { $0.site < $1.site }) where !sites.contains(where: { $0.site == q.site }) {
            rows.append([q.site, "never seen", "-", "-", "-", "-", "-", q.qualification, String(q.openDeviations), String(q.nonconformances), "0", "-"])
        }
        emitTable(["SITE", "STATE", "VERSION", "EPOCH", "CLOCK", "LAST RECORD", "BACKLOG", "QUALIFICATION", "DEVIATIONS", "NONCONFORMANCES",
                   "FINDINGS", "DEVICES"], rows)
    }
}

struct Integrity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Integrity findings (gaps, differing duplicates, chain breaks, store epochs, malformed messages) and each stream's progress.",
        discussion: """
            Exit code 1 when any finding is open.
            Example:
              pocare-control integrity --site site-a --gap-grace 5m
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Only this site.") var site: String?
    @Flag(help: "Include resolved findings (gaps that filled).") var all = false
    @Option(help: "Report a gap only once it has been open this long (records may arrive out of order across instances).")
    var gapGrace = "0s"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let grace = parseDurationText(gapGrace) else { throw ValidationError("--gap-grace: '\(gapGrace)' is not a duration") }
        let connection = try db.connect()
        let report = try IntegrityReport.load(connection, site: site, includeResolved: all, gapGraceSeconds: grace)
        if json {
            try emitJSON(report)
        } else {
            emitTable(
                ["FOUND", "KIND", "SITE", "STREAM", "RECORDS", "STATE", "DETAIL"],
                report.findings.map { f in
                    [f.found, f.kind, f.site, f.stream.isEmpty ? "-" : f.stream,
                     f.seqFrom.map { "\($0)...\(f.seqTo ?? $0)" } ?? "-",
                     f.resolved.map { "resolved \($0)" } ?? "open \(formatAge(f.ageSeconds))" + (f.occurrences > 1 ? " ×\(f.occurrences)" : ""),
                     f.detail]
                })
            emit("")
            emitTable(
                ["SITE", "EPOCH", "STREAM", "CONTIGUOUS", "HIGHEST", "MISSING", "RECORDS", "DUPLICATES", "LAST RECORD"],
                report.streams.map { s in
                    [s.site, s.epoch.isEmpty ? "-" : s.epoch, s.stream, String(s.contiguous), String(s.highest), String(s.missing),
                     String(s.records), String(s.duplicates), s.lastRecordTime ?? "-"]
                })
            let refused = try RefusedMessage.list(connection, limit: 1_000)
            if !refused.isEmpty {
                emit("")
                emit("\(refused.count) kinds of message refused, \(refused.reduce(0) { $0 + $1.occurrences }) times, kept apart from every site: pocare-control refused")
            }
            if !report.replays.isEmpty {
                emit("")
                emitTable(
                    ["REPLAY ASKED", "SITE", "STREAM", "RECORDS", "CAUSE", "ATTEMPT", "ANSWER"],
                    report.replays.map { r in
                        [r.requested, r.site, r.stream, "\(r.seqFrom)...\(r.seqTo)", r.cause, String(r.attempt),
                         r.state + (r.sendingFrom.map { " \($0)...\(r.sendingTo ?? $0)" } ?? "")
                             + (r.prunedThrough.map { ", pruned through \($0)" } ?? "") + (r.reason.map { ": \($0)" } ?? "")]
                    })
            }
        }
        if report.findings.contains(where: { $0.resolved == nil }) { throw ExitStatus.failure }
    }
}

struct Conformance: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every batch, site and device that ran or runs a spec fingerprint QA has not released (or had retired).",
        discussion: """
            Exit code 1 when there is any nonconformance.
            Example:
              pocare-control conformance --json
            """)
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let connection = try db.connect()
        let found = try Nonconformance.load(connection)
        if json {
            try emitJSON(found)
        } else if found.isEmpty {
            emit("every batch and device ran a released spec")
        } else {
            emitTable(
                ["SITE", "DEVICE", "BATCH", "SPEC", "WHEN", "FIRST", "LAST", "REASON"],
                found.map { [$0.site, $0.device, $0.batch ?? "-", short($0.spec), $0.when, $0.first ?? "-", $0.last ?? "-", $0.reason] })
        }
        if !found.isEmpty { throw ExitStatus.failure }
    }
}

/// `30s`, `5m`, `2h`, `1d`, or plain seconds.
func parseDurationText(_ text: String) -> Double? {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    if let last = text.last, let unit = units[last], let n = Double(text.dropLast()) { return n * unit }
    return Double(text)
}
