import ArgumentParser
import ControlSiteRecords
import Foundation

struct Disputes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Records that arrived in two differing copies: both kept, the record disputed until QA says which copy it is.",
        discussion: """
            While a dispute is open, no batch either copy names can be signed.
            Examples:
              pocare-control disputes list
              pocare-control disputes resolve 7 --keep received --reason "the stored copy carried no hash; the site's store holds the received one"
            """,
        subcommands: [DisputeList.self, DisputeResolve.self])
}

struct DisputeList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Open disputes (every one with --all), each with its versions. Exit code 1 when any is open.")
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Include resolved disputes.") var all = false
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only disputes naming this batch.") var batch: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let disputes = try RecordDispute.list(try db.connect(), all: all, site: site, batch: batch)
        if json {
            try emitJSON(disputes)
        } else {
            emitTable(["ID", "OPENED", "SITE", "STREAM", "SEQ", "BATCHES", "STATE", "VERSIONS (DIGEST, HASH, RECEIVED)"], disputes.map { d in
                [String(d.id), d.opened, d.site, d.stream, String(d.seq), d.batches.joined(separator: ","),
                 d.resolved.map { "kept \(d.kept ?? "-") by \(d.resolvedBy ?? "-") \($0): \(d.reason ?? "")" } ?? "OPEN",
                 d.versions.map { "\($0.stored ? "stored" : "received") \($0.digest.prefix(12)) \($0.hash.map { String($0.prefix(12)) } ?? "no hash") \($0.received)" }
                    .joined(separator: "; ")]
            })
        }
        if disputes.contains(where: { $0.resolved == nil }) { throw ExitStatus.failure }
    }
}

struct DisputeResolve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve", abstract: "Say which copy is the record: the stored one, or the received one (it replaces the stored; both stay kept). Audited.")
    @OptionGroup var db: DatabaseOptions
    @Argument(help: "The dispute's id.") var id: Int64
    @Option(help: "stored or received.") var keep: String
    @Option(help: "The received version's digest (its first digits), where there are several.") var version: String?
    @Option(help: "Why (required, audited).") var reason: String

    func run() throws {
        guard let choice = RecordDispute.Keep(rawValue: keep) else { throw ValidationError("--keep: expected stored or received") }
        do {
            let d = try RecordDispute.resolve(id: id, keep: choice, version: version, reason: reason, user: unixUser(), on: try db.connect())
            emit("dispute \(d.id) (\(d.site) \(d.stream) \(d.seq)): kept the \(d.kept ?? choice.rawValue) copy; batches \(d.batches.joined(separator: ", ")) may be signed again")
        } catch let refusal as RecordDispute.Refusal {
            note(refusal.description)
            throw ExitStatus.failure
        }
    }
}

struct Refused: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Messages refused as not the contract's, or under no registered site: kept apart, counted against no site.",
        discussion: """
            One row per claimed site and topic, with how often and the latest reason.
            Example:
              pocare-control refused --json
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "At most this many rows, newest first.") var limit = 200
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let refused = try RefusedMessage.list(try db.connect(), limit: max(1, limit))
        if json { return try emitJSON(refused) }
        emitTable(["LAST SEEN", "CLAIMED SITE", "TOPIC", "TIMES", "BYTES", "REASON"], refused.map { r in
            [r.lastSeen, r.claimedSite.isEmpty ? "-" : r.claimedSite, r.topic, String(r.occurrences), String(r.bytes), r.reason]
        })
    }
}

struct SetAside: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-aside",
        abstract: "Records and messages not taken as a site's: changed after the site committed them (hash_mismatch), statuses its key did not sign, checkpoints that do not verify.",
        discussion: """
            Each as it arrived, with why. Example:
              pocare-control set-aside --site site-a --reason hash_mismatch --json
            """)
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only this reason: hash_mismatch, unregistered_site, unsigned_status, bad_checkpoint.") var reason: String?
    @Option(help: "At most this many rows, newest first.") var limit = 200
    @Flag(help: "Print JSON, each record in full.") var json = false

    func run() throws {
        let rows = try SetAsideRecord.list(try db.connect(), site: site, reason: reason, limit: max(1, limit))
        if json { return try emitJSON(rows) }
        emitTable(["RECEIVED", "REASON", "SITE", "STREAM", "SEQ", "DETAIL"], rows.map { r in
            [r.received, r.reason, r.site, r.stream.isEmpty ? "-" : r.stream, r.seq.map(String.init) ?? "-", String(r.detail.prefix(120))]
        })
    }
}
