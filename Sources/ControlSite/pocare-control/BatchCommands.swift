import ArgumentParser
import ControlSiteRecords
import POCareContract
import Foundation

struct Batches: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every batch the sites' records show: device, specs, phases, first and last record, samples, events, conformance.",
        discussion: """
            Example:
              pocare-control batches --site site-a --since 2026-11-01
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only batches that ran this spec (fingerprint or its first digits).") var spec: String?
    @Option(help: "Only batches with records from this UTC time on (YYYY-MM-DD or ISO 8601).") var since: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let sinceSeconds = try since.map { text -> Double in
            guard let d = parseUTC(text) else { throw ValidationError("--since: '\(text)' is not a date (YYYY-MM-DD or ISO 8601)") }
            return d.timeIntervalSince1970
        }
        let batches = try BatchSummary.list(try db.connect(), site: site, spec: spec, since: sinceSeconds)
        if json { return try emitJSON(batches) }
        emitTable(
            ["SITE", "BATCH", "DEVICE", "SPEC", "PHASES", "FIRST", "LAST", "SAMPLES", "EVENTS", "CONFORMING"],
            batches.map { b in
                [b.site, b.batch, b.device, b.specs.map { short($0) }.joined(separator: ","), b.phases.joined(separator: ","),
                 b.first, b.last, String(b.samples), String(b.events), b.conforming ? "yes" : "NO"]
            })
    }
}

struct BatchDetail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "One batch: its phases and specs, per device the statistics and excursions of its samples, its events, nonconformances, open integrity findings on its streams, and the site's batch record checked against them.",
        discussion: """
            Statistics and excursions follow the one rule of docs/ipc-specs.md ("Excursions and time
            weighting"), the rule of the site's own record; each device's record is recomputed from the
            samples held here and every difference named.
            Exit code 1 when the batch is unknown, nonconforming, has open findings, or its site's
            record differs from the samples and events held here.
            `batch export SITE BATCH --output FILE` writes the batch as a self-contained file (its
            records as the contract carried them, the checkpoints the site signed, the site's keys
            from control.yaml, the spec and the review signatures) that `pocarectl verify --export
            FILE` verifies without a database.
            Example:
              pocare-control batch site-a B-2026-118
              pocare-control batch export site-a B-2026-118 --output B-2026-118.json --config /etc/pocare/control.yaml
            """)
    @OptionGroup var db: DatabaseOptions
    @Argument(help: "The site (or `export`).") var site: String
    @Argument(help: "The batch id (after `export`: the site).") var batch: String
    @Argument(help: "After `export`: the batch id.") var exported: String?
    @Option(help: "With export: the file to write.") var output: String?
    @Option(help: "Folder of device profiles released specs are read against (default: ./DeviceProfiles, else the installed ones).")
    var profiles: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        if site == "export" {
            guard let exported, let output else {
                note("usage: pocare-control batch export SITE BATCH --output FILE")
                throw ExitStatus.usage
            }
            return try export(site: batch, batch: exported, to: output)
        }
        let connection = try db.connect()
        let specs = SpecLookup(profilesDirectory: profiles)
        guard let record = try BatchRecord.load(connection, site: site, batch: batch, specs: { try specs.ran($0, on: connection) }) else {
            note("no records of batch \(batch) at \(site)")
            throw ExitStatus.failure
        }
        if json {
            try emitJSON(record)
        } else {
            emit("batch \(record.batch) at \(record.site)")
            emit("")
            emitTable(["DEVICE", "PHASE", "SPEC", "FIRST", "LAST", "SAMPLES"],
                      record.phases.map { [$0.device, $0.phase.isEmpty ? "-" : $0.phase, short($0.spec), $0.first, $0.last, String($0.samples)] })
            for device in record.statistics { BatchStatisticsText.show(device) }
            emit("")
            emitTable(["TIME", "STREAM", "SEQ", "KIND", "PHASE", "EVENT"],
                      record.events.map { [$0.time, $0.stream, String($0.seq), $0.kind, $0.phase ?? "-", $0.detail] })
            emit("")
            emit(record.nonconformances.isEmpty ? "conformance: every spec it ran is released"
                 : "NONCONFORMING: " + record.nonconformances.map { "\(short($0.spec)) \($0.reason)" }.joined(separator: "; "))
            emit(record.openFindings.isEmpty ? "integrity: no open findings on its streams"
                 : "OPEN FINDINGS: " + record.openFindings.map { "\($0.kind) \($0.stream) \($0.detail)" }.joined(separator: "; "))
            if record.siteRecords.isEmpty { emit("site's batch record: not received (the batch runs, or its end has not arrived)") }
            for check in record.siteRecords {
                emit("site's batch record for \(check.device) (\(check.stream) \(check.seq)): "
                     + (check.differences.isEmpty ? "agrees with the samples and events held here"
                        : "DIFFERS: " + check.differences.joined(separator: "; "))
                     + (check.notes.isEmpty ? "" : " (" + check.notes.joined(separator: "; ") + ")"))
            }
        }
        if !record.nonconformances.isEmpty || !record.openFindings.isEmpty || record.siteRecords.contains(where: { !$0.differences.isEmpty }) {
            throw ExitStatus.failure
        }
    }
}

extension BatchDetail {
    /// Writes the batch's export file; exit 1 when the batch is unknown.
    func export(site: String, batch: String, to path: String) throws {
        let register = try db.config.map { path throws in try ControlConfig.load(path: path).settings.siteKeys } ?? .open
        let file = try BatchExporter.export(site: site, batch: batch, keys: register, on: try db.connect())
        guard !file.segments.isEmpty else {
            note("no records of batch \(batch) at \(site)")
            throw ExitStatus.failure
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(file).write(to: URL(fileURLWithPath: path))
        emit("exported batch \(batch) of \(site): \(file.segments.count) chain segments, "
             + "\(file.segments.reduce(0) { $0 + $1.records.count }) records, \(file.checkpoints.count) checkpoints -> \(path)")
    }
}

struct VerifyRecords: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every chain of a site (or of one batch) from the database and print the first break of each.",
        discussion: """
            Each stored record is written back as the contract carried it and its hash recomputed;
            each must name its predecessor's hash and no number may be missing. Exit 1 on any break.
            Example:
              pocare-control verify --site site-a --config /etc/pocare/control.yaml
              pocare-control verify --site site-a --batch B-2026-118
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "The site.") var site: String
    @Option(help: "Only the chain segments of this batch.") var batch: String?

    func run() throws {
        let result = try StoredRecordProof.verify(site: site, batch: batch, on: try db.connect())
        result.lines.forEach(emit)
        if !result.intact { throw ExitStatus.failure }
    }
}
