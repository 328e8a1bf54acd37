import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation

struct Changes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change control: every change to the released-spec register and the POC Master File, with who asked, who approved, and when it took effect.",
        discussion: """
            A change is requested by one person (`specs release`, `sites register`, `sites equipment add`, …)
            and takes effect only when a second person with a QA role approves it with their password,
            naming the content hash `changes show` prints. The requester cannot approve their own change.
            Examples:
              pocare-control changes list --state proposed
              pocare-control changes show CC-7
              pocare-control changes approve CC-7 --hash 4be1c09d2f3a --user asmith
            """,
        subcommands: [List.self, Show.self, Approve.self, Reject.self, Withdraw.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Changes, newest first, with their state.")
        @Option(help: "proposed, approved, rejected or withdrawn.") var state: String?
        @Option(help: "Only changes of this site.") var site: String?
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            if let state, !["proposed", "approved", "rejected", "withdrawn"].contains(state) {
                throw ValidationError("--state: proposed, approved, rejected or withdrawn")
            }
            let changes = try ChangeControl.list(state: state, site: site, on: try db.connect())
            if json { return try emitJSON(changes) }
            emitTable(["CHANGE", "STATE", "KIND", "REQUESTED", "BY", "DECIDED BY", "EFFECTIVE", "WHAT"], changes.map { c in
                [c.reference, c.state, c.kind, c.requested, c.requestedBy, c.decidedBy ?? "-", c.effective ?? "-", c.summary]
            })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One change: what, why, who asked, who decided, and the content hash an approver names.")
        @Argument(help: "The change (CC-12).") var change: String
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let id = try quality { try ChangeControl.parseReference(change) }
            guard let c = try ChangeControl.find(id, on: try db.connect()) else {
                note("no change \(change)")
                throw ExitStatus.failure
            }
            if json { return try emitJSON(c) }
            for (label, value) in [
                ("change", c.reference), ("state", c.state), ("kind", c.kind), ("site", c.site ?? "-"), ("what", c.summary), ("why", c.reason),
                ("requested", "\(c.requested) by \(c.requestedFullName) (\(c.requestedBy))"),
                ("decided", c.decided.map { "\($0) by \(c.decidedFullName ?? "") (\(c.decidedBy ?? ""))" + (c.decisionComment.map { ": \($0)" } ?? "") } ?? "-"),
                ("effective", c.effective ?? "-"), ("content", "sha256:\(c.contentHash)"),
            ] { emit(label.padding(toLength: 10, withPad: " ", startingAt: 0) + value) }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a proposed change (a second person with a QA role, password again): it takes effect at once.")
        @Argument(help: "The change (CC-12).") var change: String
        @Option(help: "The content hash `changes show` printed (its first 12 digits are enough): what you approve.") var hash: String
        @Option(help: "A comment for the record.") var comment = ""
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws { try decide(.approve, change, hash: hash, comment: comment, credentials, db, json: json) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a proposed change (a second person with a QA role, password again).")
        @Argument(help: "The change (CC-12).") var change: String
        @Option(help: "The content hash `changes show` printed.") var hash: String
        @Option(help: "Why it is rejected.") var comment: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws { try decide(.reject, change, hash: hash, comment: comment, credentials, db, json: json) }
    }

    struct Withdraw: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a change you requested that nobody has decided yet.")
        @Argument(help: "The change (CC-12).") var change: String
        @Option(help: "Why it is withdrawn.") var reason: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            let id = try quality { try ChangeControl.parseReference(change) }
            let connection = try db.connect()
            let actor = try credentials.actor(on: connection, action: "change.withdraw", target: "CC-\(id)")
            let c = try quality { try ChangeControl.withdraw(id, reason: reason, by: actor, on: connection) }
            emit("\(c.reference) withdrawn")
        }
    }
}

private func decide(_ decision: ChangeControl.Decision, _ change: String, hash: String, comment: String, _ credentials: CredentialOptions,
                    _ db: DatabaseOptions, json: Bool) throws {
    let id = try quality { try ChangeControl.parseReference(change) }
    let settings = try db.qualitySettings()
    let connection = try db.connect()
    let password = try credentials.password()
    let shown = hash.hasPrefix("sha256:") ? String(hash.dropFirst(7)) : hash
    let c = try quality {
        try ChangeControl.decide(id, decision, shownHash: shown, comment: comment, userName: credentials.user, password: password,
                                 settings: settings, throttle: credentials.throttle, on: connection)
    }
    if json { return try emitJSON(c) }
    emit("\(c.reference) \(c.state) by \(c.decidedFullName ?? credentials.user)" + (c.effective.map { ", effective \($0)" } ?? "") + ": \(c.summary)")
}
