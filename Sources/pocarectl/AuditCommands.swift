import ArgumentParser
import Foundation
import POCareCore
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

    func verification() throws -> [String: Any] {
        guard let store else { return object(try daemon.send("audit.verify")) }
        do {
            return try AuditSummary.verification(try reader(store))
        } catch let error as SQLiteError {
            FileHandle.standardError.write(Data("pocarectl: cannot read the audit trail: \(error)\n".utf8))
            throw ExitStatus.failure
        }
    }

    func entries(_ filter: StoreReader.AuditFilter, arguments: [String: String]) throws -> [[String: Any]] {
        guard let store else { return object(try daemon.send("audit.show", arguments))["entries"] as? [[String: Any]] ?? [] }
        do {
            return try AuditSummary.entries(try reader(store), filter)
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
        let intact = (result["intact"] as? Bool) == true
        let integrity = result["integrity_check"] as? String ?? "?"
        let problems = result["problems"] as? [String] ?? []
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else if intact {
            print("audit trail intact: \(result["entries"] ?? 0) entries, last hash \(result["last_hash"] ?? "")")
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

    @Option(help: "Only entries by this Unix user.")
    var user: String?

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
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let date = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return date }
        throw ValidationError("--\(name): '\(text)' is not an ISO 8601 time such as 2026-11-25T08:00:00Z")
    }

    func run() throws {
        let filter = StoreReader.AuditFilter(
            user: user, action: action, since: try parseTime(since, "since"), until: try parseTime(until, "until"), limit: last)
        var arguments: [String: String] = [:]
        if let user { arguments["user"] = user }
        if let action { arguments["action"] = action }
        if let since { arguments["since"] = since }
        if let until { arguments["until"] = until }
        if let last { arguments["last"] = String(last) }
        let entries = try source.entries(filter, arguments: arguments)
        if json {
            for e in entries {
                let data = try JSONSerialization.data(withJSONObject: e, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        var rows = [["seq", "time (UTC)", "user", "action", "target", "reason", "old", "new"]]
        for e in entries {
            rows.append(["seq", "time", "user", "action", "target", "reason", "old_value", "new_value"].map { text(e[$0]) })
        }
        print(alignedTable(rows))
    }
}
