import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareConfig

struct ComparisonCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comparisons",
        abstract: "Comparisons of a site with the reference site, recorded from `compare` and signed by QA: they qualify additional sites and set the yearly check.",
        discussion: """
            Examples:
              pocare-control comparisons record --spec 3f2a9c01b7e4 --phase expansion --reference site-a --site site-b --user jdoe
              pocare-control comparisons show CMP-2
              pocare-control comparisons sign CMP-2 --hash 81c0aa03e4d2 --comment "qualification of site-b" --user asmith
            """,
        subcommands: [Record.self, List.self, Show.self, Sign.self])

    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run `compare` and record its result for one site, to be signed.")
        @Option(help: "The spec's fingerprint (or its first 12 hex digits).") var spec: String
        @Option(help: "The phase compared.") var phase: String
        @Option(help: "The reference site.") var reference: String
        @Option(help: "The site judged.") var site: String
        @Option(help: "qualification or yearly.") var purpose = "qualification"
        @Option(help: "Only batches with records from this UTC time on (YYYY-MM-DD or ISO 8601).") var since: String?
        @Option(help: "Folder of device profiles the spec is read against.") var profiles: String?
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let purpose = Comparisons.Purpose(rawValue: purpose) else { throw ValidationError("--purpose: qualification or yearly") }
            let sinceSeconds = try since.map { text -> Double in
                guard let d = parseUTC(text) else { throw ValidationError("--since: '\(text)' is not a date") }
                return d.timeIntervalSince1970
            }
            let connection = try db.connect()
            let folder = profiles ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
                .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
            let fingerprint = try quality { try SpecRegister.resolve(spec, on: connection) }
            let text = try connection.execute("SELECT spec_text FROM released_specs WHERE fingerprint = $1", [fingerprint]).string(0, 0) ?? ""
            guard let ipc = SpecLoader.parse(text, file: fingerprint, profiles: SpecLoader.profileCatalogue(directory: folder)).spec else {
                note("the released spec \(fingerprint) cannot be read against the profiles in \(folder)")
                throw ExitStatus.failure
            }
            let report = try quality { try ComparisonReport.load(connection, spec: ipc, phase: phase, reference: reference, since: sinceSeconds) }
            let actor = try credentials.actor(on: connection, action: "comparison.record", target: site)
            let recorded = try quality { try Comparisons.record(report, site: site, purpose: purpose, by: actor, on: connection) }
            if json { return try emitJSON(recorded) }
            emit("\(recorded.reference) recorded: \(site) against \(reference), \(phase): \(recorded.outcome.replacingOccurrences(of: "_", with: " "))")
            emit("batches of \(site): \(recorded.batches.joined(separator: ", "))")
            emit("report sha256:\(recorded.reportHash)")
            emit("it counts once QA signs it: pocare-control comparisons sign \(recorded.reference) --hash \(recorded.reportHash.prefix(12)) --user NAME")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recorded comparisons, newest first, with their signatures.")
        @Option(help: "Only comparisons this site took part in.") var site: String?
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let list = try Comparisons.list(site: site, on: try db.connect())
            if json { return try emitJSON(list) }
            emitTable(["COMPARISON", "SITE", "REFERENCE", "SPEC", "PHASE", "PURPOSE", "OUTCOME", "RECORDED", "SIGNED"], list.map { c in
                [c.reference, c.site, c.referenceSite, short(c.spec), c.phase, c.purpose, c.outcome, c.recorded,
                 c.signed.map { "\($0) by \(c.signedFullName ?? "")" } ?? "not signed"]
            })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One comparison: what was compared, the outcome, the report hash a signer names.")
        @Argument(help: "The comparison (CMP-2).") var comparison: String
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print the recorded report as JSON.") var json = false

        func run() throws {
            let id = try quality { try Comparisons.parseReference(comparison) }
            let connection = try db.connect()
            guard let c = try Comparisons.find(id, on: connection) else {
                note("no comparison \(comparison)")
                throw ExitStatus.failure
            }
            if json { return emit(try Comparisons.reportText(id, on: connection) ?? "{}") }
            for (label, value) in [
                ("comparison", c.reference), ("site", c.site), ("reference", c.referenceSite), ("spec", c.spec), ("phase", c.phase),
                ("purpose", c.purpose), ("batches", c.batches.joined(separator: ", ")), ("outcome", c.outcome), ("method", c.method),
                ("recorded", "\(c.recorded) by \(c.recordedBy)"), ("report", "sha256:\(c.reportHash)"),
                ("signed", c.signed.map { "\($0) by \(c.signedFullName ?? "") (\(c.signedBy ?? ""))" + (c.signComment.map { ": \($0)" } ?? "") } ?? "not signed"),
            ] { emit(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value) }
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a recorded comparison (QA, password again), naming the report hash `show` printed.")
        @Argument(help: "The comparison (CMP-2).") var comparison: String
        @Option(help: "The report hash `show` printed (at least its first 12 hex digits).") var hash: String
        @Option(help: "A comment for the record.") var comment = ""
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            let id = try quality { try Comparisons.parseReference(comparison) }
            let connection = try db.connect()
            let password = try credentials.password()
            let shown = hash.hasPrefix("sha256:") ? String(hash.dropFirst(7)) : hash
            let c = try quality {
                try Comparisons.sign(id, shownHash: shown, comment: comment, userName: credentials.user, password: password, on: connection)
            }
            emit("\(c.reference) signed by \(c.signedFullName ?? credentials.user): \(c.site) \(c.outcome.replacingOccurrences(of: "_", with: " ")) with \(c.referenceSite)")
        }
    }
}
