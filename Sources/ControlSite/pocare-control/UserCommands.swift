import ArgumentParser
import Hashing
import ControlSiteRecords
import POCareContract
import ControlSiteWeb
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Who may sign in to the web pages, and as what (viewer, qa, qp); every change is audited with your Unix user.",
        discussion: """
            Passwords are read from standard input (one line) or asked for at the terminal, never from the
            command line, and kept as PBKDF2-HMAC-SHA256 hashes.
            Examples:
              pocare-control users add jdoe --full-name "Jane Doe" --role qp
              pocare-control users passwd jdoe
              pocare-control users disable jdoe --reason "left the company"
            """,
        subcommands: [Add.self, Disable.self, Passwd.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user with a role and a password.")
        @Argument(help: "The user name (a-z, 0-9, '.', '_', '-').") var userName: String
        @Option(help: "The full name, shown with every signature.") var fullName: String
        @Option(help: "viewer (reads), qa (reads and signs), qp (reads, signs, approves for release).") var role: String
        @Option(help: "PBKDF2 iterations (at least 200000).") var iterations = PasswordHash.defaultIterations
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard let role = WebUsers.Role(rawValue: role) else { throw ValidationError("--role: expected viewer, qa or qp, got '\(role)'") }
            guard iterations >= PasswordHash.minimumIterations else {
                throw ValidationError("--iterations: at least \(PasswordHash.minimumIterations)")
            }
            let password = try readNewPassword()
            let connection = try db.connect()
            try refusing {
                try WebUsers.add(userName: userName, fullName: fullName, role: role, password: password, iterations: iterations,
                                 by: unixUser(), on: connection)
            }
            emit("added \(userName) (\(role.rawValue))")
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: no sign-in from now on, and their sessions end.")
        @Argument(help: "The user name.") var userName: String
        @Option(help: "Why the user is disabled.") var reason: String
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
            let connection = try db.connect()
            try refusing { try WebUsers.disable(userName: userName, reason: reason, by: unixUser(), on: connection) }
            emit("disabled \(userName)")
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password; their sessions end.")
        @Argument(help: "The user name.") var userName: String
        @Option(help: "PBKDF2 iterations (at least 200000).") var iterations = PasswordHash.defaultIterations
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard iterations >= PasswordHash.minimumIterations else {
                throw ValidationError("--iterations: at least \(PasswordHash.minimumIterations)")
            }
            let password = try readNewPassword()
            let connection = try db.connect()
            try refusing {
                try WebUsers.setPassword(userName: userName, password: password, iterations: iterations, by: unixUser(), on: connection)
            }
            emit("password set for \(userName)")
        }
    }
}

/// A refusal (unknown user, bad name, short password) is a failure with its reason, exit 1.
private func refusing(_ body: () throws -> Void) throws {
    do { try body() } catch let refusal as WebUsers.Refusal {
        note(refusal.description)
        throw ExitStatus.failure
    } catch let refusal as PasswordHash.Refusal {
        note(refusal.description)
        throw ExitStatus.failure
    }
}

/// The new password: asked twice at a terminal (not echoed), else one line of standard input.
private func readNewPassword() throws -> String {
    if isatty(STDIN_FILENO) == 1 {
        let first = try promptSilently("New password: ")
        guard try promptSilently("Again: ") == first else {
            note("the two passwords differ")
            throw ExitStatus.failure
        }
        return first
    }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        note("no password on standard input")
        throw ExitStatus.failure
    }
    return line
}
