import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareContract

struct Batches: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every batch the sites' records show: purpose, device, specs, phases, first and last record, samples, events, conformance, disposition.",
        discussion: """
            States: running, awaiting_qa, awaiting_qp, certified, rejected, invalid (a signed record changed since).
            Example:
              pocare-control batches --site site-a --since 2026-11-01
              pocare-control batches --state awaiting_qp
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only batches that ran this spec (fingerprint or its first digits).") var spec: String?
    @Option(help: "Only batches with records from this UTC time on (YYYY-MM-DD or ISO 8601).") var since: String?
    @Option(help: "Only batches in this state: running, awaiting_qa, awaiting_qp, certified, rejected, invalid.") var state: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        if let state, !BatchStates.all.contains(state) { throw ValidationError("--state: \(BatchStates.all.joined(separator: ", "))") }
        let sinceSeconds = try since.map { text -> Double in
            guard let d = parseUTC(text) else { throw ValidationError("--since: '\(text)' is not a date (YYYY-MM-DD or ISO 8601)") }
            return d.timeIntervalSince1970
        }
        let connection = try db.connect()
        let all = try BatchSummary.list(connection, site: site, spec: spec, since: sinceSeconds)
        let states = try BatchStates.load(all, on: connection)
        let batches = all.filter { state == nil || states["\($0.site)/\($0.batch)"] == state }
        if json {
            struct Row: Encodable {
                var batch: BatchSummary
                var state: String
                func encode(to encoder: Encoder) throws {
                    try batch.encode(to: encoder)
                    var c = encoder.container(keyedBy: Key.self)
                    try c.encode(state, forKey: .state)
                }
                enum Key: String, CodingKey { case state }
            }
            return try emitJSON(batches.map { Row(batch: $0, state: states["\($0.site)/\($0.batch)"] ?? "running") })
        }
        var counts: [String: Int] = [:]
        for key in Set(all.map { "\($0.site)/\($0.batch)" }) { counts[states[key] ?? "running", default: 0] += 1 }
        emit(BatchStates.all.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: " · "))
        emitTable(
            ["SITE", "BATCH", "PURPOSE", "DEVICE", "SPEC", "PHASES", "FIRST", "LAST", "SAMPLES", "EVENTS", "CONFORMING", "STATE"],
            batches.map { b in
                [b.site, b.batch, b.purpose ?? "site not registered", b.device, b.specs.map { short($0) }.joined(separator: ","), b.phases.joined(separator: ","),
                 b.first, b.last, String(b.samples), String(b.events), b.conforming ? "yes" : "NO", BatchStates.words(states["\(b.site)/\(b.batch)"] ?? "running")]
            })
    }
}

struct BatchDetail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "One batch: review by exception first, its disposition, then its phases and specs, per device the statistics of its samples, its excursions, unmonitored time, events in words, and the site's batch record checked against the data held.",
        discussion: """
            Statistics and excursions follow the one rule of docs/ipc-specs.md ("Excursions and time
            weighting"), the rule of the site's own record; each device's record is recomputed from the
            samples held here and every difference named.
            Exit code 1 when the batch is unknown or has any exception.
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
        let settings = try db.qualitySettings()
        let connection = try db.connect()
        guard let review = try BatchReview.load(site: site, batch: batch, settings: settings, specs: SpecLookup(profilesDirectory: profiles),
                                                on: connection) else {
            note("no records of batch \(batch) at \(site)")
            throw ExitStatus.failure
        }
        if json {
            try emitJSON(BatchOutput(record: review.record, recordHash: review.recordHash, state: review.status.state.rawValue,
                                     signatures: review.status.signatures, exceptions: review.checks))
        } else {
            BatchText.print(review)
        }
        if !review.clean { throw ExitStatus.failure }
    }

    struct BatchOutput: Encodable {
        var record: BatchRecord
        var recordHash: String
        var state: String
        var signatures: [Disposition.Signature]
        var exceptions: [BatchReview.Check]

        func encode(to encoder: Encoder) throws {
            try record.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(recordHash, forKey: .recordHash)
            try c.encode(state, forKey: .state)
            try c.encode(signatures, forKey: .signatures)
            try c.encode(exceptions, forKey: .exceptions)
        }
        enum Key: String, CodingKey { case recordHash, state, signatures, exceptions }
    }
}

/// `batch` for people: exceptions first, then the record, every event in words.
enum BatchText {
    static func print(_ review: BatchReview) {
        let r = review.record
        emit("batch \(r.batch) at \(r.site): " + (r.purpose.map { $0 == "production" ? $0 : "\($0) batch" } ?? "the site is not in the POC Master File")
             + "; \(review.status.state.words)" + (review.status.invalidated ? "; a signature is INVALID: the record changed after signing" : ""))
        emit("record sha256:\(review.recordHash)")
        emit("")
        emit(review.clean ? "REVIEW BY EXCEPTION: no exceptions (every check ran and found nothing)"
             : "REVIEW BY EXCEPTION: \(review.exceptionCount) exceptions")
        for check in review.checks {
            emit("  \(check.clean ? "ok  " : check.ran ? "FAIL" : "NOT CHECKED") \(check.title)")
            for item in check.items { emit("       - \(item.text)") }
        }
        emit("")
        emitTable(["SIGNED", "SIGNER", "ROLE", "MEANING", "BINDING", "COMMENT"], review.status.signatures.map { s in
            [s.signed, "\(s.fullName) (\(s.userName))", s.role, s.meaning,
             (s.valid ? "valid" : "INVALID") + (s.withdrawn.map { ", WITHDRAWN \($0) by \(s.withdrawnFullName ?? ""): \(s.withdrawReason ?? "")" } ?? ""), s.comment]
        })
        emit("")
        emitTable(["DEVICE", "PHASE", "SPEC", "FIRST", "LAST", "SAMPLES"],
                  r.phases.map { [$0.device, $0.phase.isEmpty ? "-" : $0.phase, short($0.spec), $0.first, $0.last, String($0.samples)] })
        for device in r.statistics { BatchStatisticsText.show(device) }
        emit("")
        emitTable(["SPEC", "DOCUMENT", "VERSION", "STATE"], review.specs.map { [short($0.fingerprint), $0.document ?? "-", $0.version ?? "-", $0.state] })
        emit("")
        emitTable(["DEVICE", "ALARM", "PHASE", "START", "END", "DURATION", "WORST", "LIMIT", "AREA"], review.excursions.map { x in
            [x.device, x.alarm, x.phase, x.start, x.end, "\(BatchText.number(x.durationS)) s", BatchText.number(x.worstValue), "\(x.worstLevel) \(x.side)",
             BatchText.number(x.areaOutside)]
        })
        emit("")
        emitTable(["DEVICE", "UNMONITORED FROM", "TO", "DURATION", "CAUSE"], review.unmonitored.map {
            [$0.device, $0.from, $0.to, "\(BatchText.number($0.durationS)) s", $0.cause]
        })
        emit("")
        emitTable(["TIME", "DEVICE", "EVENT", "PHASE", "WHAT"], r.events.map { e in
            [e.time, String(e.stream.split(separator: "/").first ?? ""), e.kind, e.phase ?? "-", EventText.describe(kind: e.kind, body: e.detail)]
        })
        emit("")
        if r.siteRecords.isEmpty { emit("site's batch record: not received (the batch runs, or its end has not arrived)") }
        for check in r.siteRecords {
            emit("site's batch record for \(check.device) (\(check.stream) \(check.seq)): "
                 + (check.differences.isEmpty ? "agrees with the samples and events held here" : "DIFFERS: " + check.differences.joined(separator: "; "))
                 + (check.notes.isEmpty ? "" : " (" + check.notes.joined(separator: "; ") + ")"))
        }
    }

    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        return x == x.rounded() && abs(x) < 1e12 ? String(Int64(x)) : String(format: "%.4g", x)
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
            each must name its predecessor's hash and no number may be missing. What was kept of
            each batch's reading for pages and comparisons (its record hash, the checks of its site
            records) is read again from the rows; what differs is named and dropped. The minute
            rollups of each telemetry stream are computed again from its samples and compared;
            --rebuild-rollups puts them in place (for samples stored before rollups were kept).
            Exit 1 on any break or difference.
            Example:
              pocare-control verify --site site-a --config /etc/pocare/control.yaml
              pocare-control verify --site site-a --batch B-2026-118
              pocare-control verify --site site-a --rebuild-rollups
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "The site.") var site: String
    @Option(help: "Only the chain segments of this batch.") var batch: String?
    @Option(help: "Folder of device profiles released specs are read against (default: ./DeviceProfiles, else the installed ones).")
    var profiles: String?
    @Flag(help: "Build the minute rollups of the streams again from their samples (each stream's ingest waits meanwhile).")
    var rebuildRollups = false

    func run() throws {
        let connection = try db.connect()
        let chains = try StoredRecordProof.verify(site: site, batch: batch, on: connection)
        chains.lines.forEach(emit)
        let kept = try KeptReadingsCheck.verify(site: site, batch: batch, specs: SpecLookup(profilesDirectory: profiles), on: connection)
        kept.lines.forEach(emit)
        let rollups = try MinuteRollupCheck.verify(site: site, batch: batch, rebuild: rebuildRollups, on: connection)
        rollups.lines.forEach(emit)
        if !chains.intact || !kept.intact || !rollups.intact { throw ExitStatus.failure }
    }
}
