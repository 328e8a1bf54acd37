import ArgumentParser
import ControlAPI
import POCareContract
import Foundation
import POCareCore
import StoreReports
import SiteStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the site's audit trail.",
        subcommands: [VerifyAudit.self, ShowAudit.self])
}

/// Read the audit trail from the store file itself (`--store`, needs read access to it) or,
/// by default, through the daemon's control socket (any operator).
struct AuditSource: ParsableArguments {
    @Option(help: "Read this store file directly instead of asking the daemon (needs root or the pocare user).")
    var store: String?

    @OptionGroup var daemon: SocketOption

    func reader(_ path: String) throws -> StoreReader {
        do {
            return try StoreReader(path: path)
        } catch {
            FileHandle.standardError.write(Data("pocarectl: cannot open the store \(path): \(error.message)\n".utf8))
            throw ExitStatus.failure
        }
    }

    func verification() throws -> AuditVerificationReport {
        guard let store else { return try daemon.send(.auditVerify) { if case .auditVerification(let r) = $0 { r } else { nil } } }
        do {
            return try AuditVerificationReport(try reader(store))
        } catch let error as SQLiteError {
            FileHandle.standardError.write(Data("pocarectl: cannot read the audit trail: \(error)\n".utf8))
            throw ExitStatus.failure
        }
    }

    func entries(_ query: AuditQuery) throws -> [AuditEntryList.Entry] {
        guard let store else { return try daemon.send(.auditShow(query)) { if case .auditEntries(let r) = $0 { r } else { nil } }.entries }
        let filter = StoreReader.AuditFilter(user: query.user, action: query.action, since: query.since, until: query.until, limit: query.last)
        do {
            return try AuditEntryList(try reader(store), filter).entries
        } catch let error as SQLiteError {
            FileHandle.standardError.write(Data("pocarectl: cannot read the audit trail: \(error)\n".utf8))
            throw ExitStatus.failure
        }
    }
}
struct VerifyAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Walk the audit trail's hash chain and name the first entry that was changed, removed or inserted.",
        discussion: """
            Exits 0 when the chain is intact, 1 when it is broken or cannot be read.

            Example:
              pocarectl audit verify                      # through the daemon
              pocarectl audit verify --store /backup/site-2026-11-25.db
            """)

    @OptionGroup var source: AuditSource

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let result = try source.verification()
        let intact = result.intact
        let integrity = result.integrityCheck
        let problems = result.problems
        if json {
            printJSON(result)
        } else if intact {
            print("audit trail intact: \(result.entries) entries, last hash \(result.lastHash)")
            if integrity != "ok" { print("store integrity check: \(integrity)") }
        } else {
            print("audit trail BROKEN: \(problems.first ?? "?")")
            for problem in problems.dropFirst() { print("  also: \(problem)") }
        }
        if !intact || integrity != "ok" { throw ExitStatus.failure }
    }
}

struct ShowAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "List audit entries, oldest first.",
        discussion: """
            Examples:
              pocarectl audit show --last 20
              pocarectl audit show --user alice --action 'alarm.*' --since 2026-11-01T00:00:00Z
            """)

    @OptionGroup var source: AuditSource

    /// `--user` (the connection's option) filters here: reading acts for no one.
    var user: String? { source.daemon.user }

    @Option(help: "Only this action; '*' matches any text (e.g. 'batch.*').")
    var action: String?

    @Option(help: "Only entries at or after this UTC time (ISO 8601).")
    var since: String?

    @Option(help: "Only entries before this UTC time (ISO 8601).")
    var until: String?

    @Option(help: "Only the last N entries.")
    var last: Int?

    @Flag(help: "Print entries as JSON, one per line.")
    var json = false

    func parseTime(_ text: String?, _ name: String) throws -> Date? {
        guard let text else { return nil }
        // Each accepted form is tried in turn; text that is none of them is refused by the caller.
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let date = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return date }
        throw ValidationError("--\(name): '\(text)' is not an ISO 8601 time such as 2026-11-25T08:00:00Z")
    }

    func run() throws {
        let query = AuditQuery(
            user: user, action: action, since: try parseTime(since, "since"), until: try parseTime(until, "until"), last: last)
        let entries = try source.entries(query)
        if json {
            for e in entries { printJSON(e) }
            return
        }
        var rows = [["seq", "time (UTC)", "user", "action", "target", "reason", "old", "new"]]
        for e in entries {
            rows.append(["\(e.seq)", e.time, e.user, e.action, e.target, text(e.reason), text(e.oldValue), text(e.newValue)])
        }
        print(alignedTable(rows))
    }
}
