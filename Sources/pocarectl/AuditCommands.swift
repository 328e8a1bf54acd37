import ArgumentParser
import Foundation
import POCareCore
import SiteStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the site's audit trail.",
        subcommands: [VerifyAudit.self, ShowAudit.self])
}

struct StoreOption: ParsableArguments {
    @Option(help: "Site store file.")
    var store: String = StoreConfig.defaultPath

    func reader() throws -> StoreReader {
        do {
            return try StoreReader(path: store)
        } catch {
            FileHandle.standardError.write(Data("pocarectl: cannot open the store \(store): \(error.message)\n".utf8))
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
              pocarectl audit verify --store /var/lib/pocare/site.db
            """)

    @OptionGroup var store: StoreOption

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let reader = try store.reader()
        let result: AuditVerification
        let integrity: String
        do {
            integrity = try reader.integrityCheck()
            result = try reader.verifyAudit()
        } catch {
            FileHandle.standardError.write(Data("pocarectl: cannot read the audit trail: \(error)\n".utf8))
            throw ExitStatus.failure
        }
        if json {
            let object: [String: Any] = [
                "intact": result.isIntact, "entries": result.entries, "last_hash": result.lastHash,
                "problems": result.problems, "integrity_check": integrity,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else if result.isIntact {
            print("audit trail intact: \(result.entries) entries, last hash \(result.lastHash)")
            if integrity != "ok" { print("store integrity check: \(integrity)") }
        } else {
            print("audit trail BROKEN: \(result.problems[0])")
            for problem in result.problems.dropFirst() { print("  also: \(problem)") }
        }
        if !result.isIntact || integrity != "ok" { throw ExitStatus.failure }
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

    @OptionGroup var store: StoreOption

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
        let entries: [AuditEntry]
        do {
            entries = try store.reader().auditEntries(filter)
        } catch let error as SQLiteError {
            FileHandle.standardError.write(Data("pocarectl: cannot read the audit trail: \(error)\n".utf8))
            throw ExitStatus.failure
        }
        if json {
            for e in entries {
                var object: [String: Any] = [
                    "seq": e.seq, "time": e.time.formatted(.iso8601), "user": e.action.user, "action": e.action.action,
                    "target": e.action.target, "hash": e.hash, "previous_hash": e.previousHash,
                ]
                object["reason"] = e.action.reason
                object["old_value"] = e.action.oldValue
                object["new_value"] = e.action.newValue
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        var rows = [["seq", "time (UTC)", "user", "action", "target", "reason", "old", "new"]]
        for e in entries {
            rows.append([
                String(e.seq), e.time.formatted(.iso8601), e.action.user, e.action.action, e.action.target,
                e.action.reason ?? "", e.action.oldValue ?? "", e.action.newValue ?? "",
            ])
        }
        print(alignedTable(rows))
    }
}
