import ArgumentParser
import Foundation
import POCareConfig
import POCareCore

/// Exit codes shared by every pocarectl command.
enum ExitStatus {
    static let failure = ExitCode(1)
    static let usage = ExitCode(2)
    /// The daemon or broker could not be reached.
    static let unreachable = ExitCode(3)
}

@main
struct POCareCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocarectl",
        abstract: "Operate POCare Edge at a site: device profiles, IPC specifications, the audit trail.",
        discussion: """
            Exit codes: 0 success, 1 failure (for example an invalid file or a refused request),
            2 usage error, 3 the daemon could not be reached.

            Global options may come before or after the command: --socket PATH, --json, --no-color
            (as does the NO_COLOR environment variable).
            """,
        subcommands: [
            Status.self, Devices.self, Values.self, Watch.self, Alarms.self, Ack.self, Shelve.self, Unshelve.self, Reset.self,
            OutOfService.self, InService.self, Batch.self, SpecRegisterCommand.self,
            Reload.self, AuditCommand.self, VerifyRecords.self, ProfileCommand.self, SpecCommand.self, Subscribe.self, Identity.self,
        ])

    /// Maps argument errors to exit code 2 (the parser's own default is 64), so scripts can
    /// tell a mistyped command from a failed check.
    static func main() {
        do {
            var command = try parseAsRoot(globalOptionsMoved(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// Lets global options come first, as kubectl, systemctl and docker users type them:
/// `pocarectl --socket PATH --user NAME batch end …` is read as `pocarectl batch end …
/// --socket PATH --user NAME`. `--no-color` is taken anywhere and works like NO_COLOR.
func globalOptionsMoved(_ arguments: [String]) -> [String] {
    var arguments = arguments
    if let end = arguments.firstIndex(of: "--") {
        let options = arguments[..<end].filter { $0 != "--no-color" }
        if options.count != end { setenv("NO_COLOR", "1", 1) }
        arguments = Array(options) + arguments[end...]
    } else if arguments.contains("--no-color") {
        setenv("NO_COLOR", "1", 1)
        arguments.removeAll { $0 == "--no-color" }
    }
    var leading: [String] = []
    var i = 0
    while i < arguments.count {
        let argument = arguments[i]
        if ["--socket", "--user"].contains(argument), i + 1 < arguments.count {
            leading += [argument, arguments[i + 1]]
            i += 2
        } else if argument.hasPrefix("--socket=") || argument.hasPrefix("--user=") || argument == "--json" {
            leading.append(argument)
            i += 1
        } else {
            break
        }
    }
    guard !leading.isEmpty else { return arguments }
    var rest = Array(arguments[i...])
    if let end = rest.firstIndex(of: "--") { rest.insert(contentsOf: leading, at: end) } else { rest += leading }
    return rest
}

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Work with device profiles.", subcommands: [ValidateProfiles.self])
}

struct ValidateProfiles: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check device profile files and report every problem.",
        discussion: """
            Each problem is printed as file:line:column: field: message. Exits 1 if any file has an
            error, 0 when all are valid.

            Example:
              pocarectl profile validate DeviceProfiles/*.yaml
            """)

    @Argument(help: "Profile files (YAML).")
    var files: [String]

    @Flag(help: "Print nothing for valid files.")
    var quiet = false

    @Flag(help: "Print one JSON object per file: file, valid, profile, diagnostics.")
    var json = false

    func run() throws {
        var failed = false
        for file in files {
            let result = ProfileLoader.load(path: file)
            if json {
                print(diagnosticsJSON(file: file, valid: result.profile != nil, name: result.profile?.id, diagnostics: result.diagnostics))
            } else {
                for diagnostic in result.diagnostics { FileHandle.standardError.write(Data((diagnostic.description + "\n").utf8)) }
            }
            if let profile = result.profile {
                if !quiet && !json {
                    print("\(file): ok: \(profile.id), \(profile.parameters.count) parameters")
                }
            } else {
                failed = true
            }
        }
        if failed { throw ExitStatus.failure }
    }
}

/// One line of JSON for a validated file.
func diagnosticsJSON(file: String, valid: Bool, name: String?, diagnostics: [Diagnostic], extra: [String: Any] = [:]) -> String {
    var object: [String: Any] = [
        "file": file, "valid": valid, "name": name ?? NSNull(),
        "diagnostics": diagnostics.map {
            ["file": $0.file, "line": $0.line, "column": $0.column, "field": $0.field, "message": $0.message,
             "severity": $0.severity.rawValue] as [String: Any]
        },
    ]
    object.merge(extra) { _, new in new }
    // Strings, numbers and arrays of them only: JSONSerialization cannot fail on these.
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    return String(decoding: data, as: UTF8.self)
}
