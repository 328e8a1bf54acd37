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
            ["SITE", "BATCH", "PURPOSE", "DEVICE", "SPEC", "PHASES", "FIRST", "LAST", "SAMPLES", "EVENTS", "CONFORMING"],
            batches.map { b in
                [b.site, b.batch, b.purpose ?? "site not registered", b.device, b.specs.map { short($0) }.joined(separator: ","), b.phases.joined(separator: ","),
                 b.first, b.last, String(b.samples), String(b.events), b.conforming ? "yes" : "NO"]
            })
    }
}

struct BatchDetail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "One batch: its phases and specs, its events, nonconformances, open integrity findings on its streams, and the site's batch record checked against them.",
        discussion: """
            Exit code 1 when the batch is unknown, nonconforming, has open findings, or its site's
            record differs from the samples and events held here.
            Example:
              pocare-control batch site-a B-2026-118
            """)
    @OptionGroup var db: DatabaseOptions
    @Argument(help: "The site.") var site: String
    @Argument(help: "The batch id.") var batch: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let record = try BatchRecord.load(try db.connect(), site: site, batch: batch) else {
            note("no records of batch \(batch) at \(site)")
            throw ExitStatus.failure
        }
        if json {
            try emitJSON(record)
        } else {
            emit("batch \(record.batch) at \(record.site): " + (record.purpose.map { $0 == "production" ? $0 : "\($0) batch" } ?? "the site is not in the POC Master File"))
            emit("")
            emitTable(["DEVICE", "PHASE", "SPEC", "FIRST", "LAST", "SAMPLES"],
                      record.phases.map { [$0.device, $0.phase.isEmpty ? "-" : $0.phase, short($0.spec), $0.first, $0.last, String($0.samples)] })
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
                        : "DIFFERS: " + check.differences.joined(separator: "; ")))
            }
        }
        if !record.nonconformances.isEmpty || !record.openFindings.isEmpty || record.siteRecords.contains(where: { !$0.differences.isEmpty }) {
            throw ExitStatus.failure
        }
    }
}
