import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation

struct DeviationCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deviations",
        abstract: "Deviations: opened automatically from their evidence (or by QA), classified, investigated, and closed with QA's signature.",
        discussion: """
            States: open -> under investigation (once classified) -> closed (signed, with the investigation,
            root cause and, for major and critical ones, a CAPA reference). Open deviations of a batch block
            its certification.
            Examples:
              pocare-control deviations list --state open
              pocare-control deviations show DEV-4
              pocare-control deviations classify DEV-4 major --user jdoe
              pocare-control deviations update DEV-4 --investigation "…" --root-cause "…" --capa CAPA-12 --user jdoe
              pocare-control deviations close DEV-4 --version 5 --comment "CAPA-12 in place" --user jdoe
            """,
        subcommands: [List.self, Show.self, Open.self, Classify.self, Update.self, Close.self, Scan.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deviations, newest first.")
        @Option(help: "open (not closed), under_investigation or closed.") var state: String?
        @Option(help: "Only this site.") var site: String?
        @Option(help: "Only deviations linked to this batch.") var batch: String?
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            if let state, !["open", "under_investigation", "closed"].contains(state) {
                throw ValidationError("--state: open, under_investigation or closed")
            }
            let list = try Deviations.list(site: site, state: state, batch: batch, on: try db.connect())
            if json { return try emitJSON(list) }
            emitTable(["DEVIATION", "STATE", "CLASS", "SITE", "BATCHES", "SOURCE", "OPENED", "TITLE"], list.map { d in
                [d.reference, d.stateWords, d.classification ?? "-", d.site, d.batches.isEmpty ? "-" : d.batches.joined(separator: ","),
                 d.source, d.opened, d.title]
            })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One deviation: its evidence, batches, investigation, closure and history.")
        @Argument(help: "The deviation (DEV-4).") var deviation: String
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let id = try quality { try Deviations.parseReference(deviation) }
            let connection = try db.connect()
            guard let d = try Deviations.find(id, on: connection) else {
                note("no deviation \(deviation)")
                throw ExitStatus.failure
            }
            if json { return try emitJSON(d) }
            for (label, value) in [
                ("deviation", "\(d.reference) (version \(d.version))"), ("state", d.stateWords), ("class", d.classification ?? "not classified"),
                ("site", d.site), ("batches", d.batches.isEmpty ? "-" : d.batches.joined(separator: ", ")), ("source", d.source),
                ("opened", "\(d.opened) by \(d.openedBy)"), ("title", d.title), ("description", d.description),
                ("investigation", d.investigation.isEmpty ? "-" : d.investigation), ("root cause", d.rootCause.isEmpty ? "-" : d.rootCause),
                ("CAPA", d.capa.isEmpty ? "-" : d.capa),
                ("closed", d.closed.map { "\($0) by \(d.closedFullName ?? "") (\(d.closedBy ?? "")): \(d.closeComment ?? "")" } ?? "-"),
            ] { emit(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value) }
            emit("")
            emitTable(["EVIDENCE", "TIME", "DETAIL"], d.evidence.map { [$0.kind, $0.time ?? "-", $0.detail] })
            emit("")
            let history = try ControlAuditTrail.entries(connection).filter { $0.action.target == d.reference }
            emitTable(["TIME", "USER", "ACTION", "OLD", "NEW"], history.map { e in
                [isoTime(nanoseconds: e.timeNanoseconds), e.action.user, e.action.action, e.action.oldValue ?? "-", e.action.newValue ?? "-"]
            })
        }
    }

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a deviation by hand.")
        @Option(help: "The site.") var site: String
        @Option(help: "A batch it concerns (repeat for more).") var batch: [String] = []
        @Option(help: "A short title.") var title: String
        @Option(help: "What happened.") var description: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            let connection = try db.connect()
            let actor = try credentials.actor(on: connection, action: "deviation.open", target: "site \(site)")
            let d = try quality { try Deviations.open(site: site, batches: batch, title: title, description: description, by: actor, on: connection) }
            emit("\(d.reference) opened: \(d.title)")
        }
    }

    struct Classify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Classify a deviation (minor, major, critical); an open one goes under investigation.")
        @Argument(help: "The deviation (DEV-4).") var deviation: String
        @Argument(help: "minor, major or critical.") var classification: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard let c = Deviations.Classification(rawValue: classification) else { throw ValidationError("minor, major or critical") }
            let id = try quality { try Deviations.parseReference(deviation) }
            let connection = try db.connect()
            let actor = try credentials.actor(on: connection, action: "deviation.classify", target: "DEV-\(id)")
            let d = try quality { try Deviations.classify(id, as: c, by: actor, on: connection) }
            emit("\(d.reference) \(d.classification ?? ""), \(d.stateWords) (version \(d.version))")
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a deviation's investigation, root cause and CAPA reference.")
        @Argument(help: "The deviation (DEV-4).") var deviation: String
        @Option(help: "The investigation.") var investigation: String?
        @Option(help: "The root cause.") var rootCause: String?
        @Option(help: "The CAPA reference.") var capa: String?
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard investigation != nil || rootCause != nil || capa != nil else {
                throw ValidationError("give --investigation, --root-cause or --capa")
            }
            let id = try quality { try Deviations.parseReference(deviation) }
            let connection = try db.connect()
            let actor = try credentials.actor(on: connection, action: "deviation.update", target: "DEV-\(id)")
            let d = try quality {
                try Deviations.update(id, investigation: investigation, rootCause: rootCause, capa: capa, by: actor, on: connection)
            }
            emit("\(d.reference) updated (version \(d.version))")
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a deviation with your e-signature: password again, a comment, and the version `deviations show` printed.")
        @Argument(help: "The deviation (DEV-4).") var deviation: String
        @Option(help: "The version you reviewed (from `deviations show`).") var version: Int64
        @Option(help: "Why it can be closed.") var comment: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            let id = try quality { try Deviations.parseReference(deviation) }
            let connection = try db.connect()
            let password = try credentials.password()
            let d = try quality {
                try Deviations.close(id, comment: comment, shownVersion: version, userName: credentials.user, password: password,
                                     throttle: credentials.throttle, on: connection)
            }
            emit("\(d.reference) closed by \(d.closedFullName ?? credentials.user) at \(d.closed ?? "?"), content sha256:\(d.closedHash ?? "")")
        }
    }

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Look for deviations to open now (`pocare-control run` does this every qms.scan_interval).")
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            let settings = try db.qualitySettings()
            let opened = try DeviationScanner.scan(settings: settings, on: try db.connect())
            emit(opened.isEmpty ? "no deviation to open" : "opened " + opened.map { "DEV-\($0)" }.joined(separator: ", "))
        }
    }
}
