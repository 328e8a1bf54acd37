import ArgumentParser
import ControlSiteRecords
import POCareContract
import Foundation
import Logging

@main
struct PocareControl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocare-control",
        abstract: "The Control Site: ingest every site's records into PostgreSQL, and the oversight commands over them.",
        discussion: """
            Exit codes: 0 ok, 1 failure (or findings), 2 usage, 3 database or broker unreachable.
            The oversight commands find the database in --database, else in --config's database, else in
            the PG* environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER), as psql does.
            """,
        subcommands: [
            Run.self, Sites.self, Integrity.self, Refused.self, SetAside.self, Disputes.self, Specs.self, Conformance.self, Batches.self, BatchDetail.self,
            VerifyRecords.self, Compare.self, Comparisons.self, Archive.self, Restore.self, Compact.self, Audit.self, Users.self, Changes.self, DeviationCommands.self, DispositionCommands.self, Identity.self,
        ])

    /// As ArgumentParser's, but a usage error exits with 2, as every command documents.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// Exit codes shared by every subcommand.
enum ExitStatus {
    static let failure = ExitCode(1)
    static let usage = ExitCode(2)
    static let unreachable = ExitCode(3)
}

func note(_ text: String) {
    FileHandle.standardError.write(Data("pocare-control: \(text)\n".utf8))
}

func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
