import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Who takes a quality-system action from the command line: a Control Site user (the same
/// accounts as the web pages), who enters their password for it, from the terminal (not
/// echoed) or as one line on standard input. Never on the command line.
struct CredentialOptions: ParsableArguments {
    @Option(help: "Your Control Site user name (`pocare-control users`); the password is asked for, or read from standard input.")
    var user: String

    func password() throws -> String {
        if isatty(STDIN_FILENO) == 1 { return try promptSilently("Password of \(user): ") }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            note("no password on standard input")
            throw ExitStatus.failure
        }
        return line
    }

    /// Passwords entered here count toward the throttle of the pages' sign-in and signatures
    /// (per user, and per "address": here the command line and the Unix account that ran it),
    /// so guessing a signer's password from a shell waits as it does from a browser.
    var throttle: SignatureThrottle {
        let account = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
        return SignatureThrottle(address: "command line (\(account))", limits: SignIn.Limits())
    }

    /// The user, signed in with their password (every refusal is audited).
    func actor(on connection: PostgresConnection, action: String, target: String) throws -> WebUsers.User {
        try quality {
            try Signer.authenticate(userName: user, password: try password(), roles: Set(WebUsers.Role.allCases), action: action,
                                    target: target, throttle: throttle, on: connection)
        }
    }
}

/// A refusal of the quality system is a failure with its reason, exit 1.
func quality<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let refusal as QualityRefusal {
        note(refusal.message)
        throw ExitStatus.failure
    } catch let refusal as SpecRegister.Refusal {
        note(refusal.description)
        throw ExitStatus.failure
    }
}

func promptSilently(_ text: String) throws -> String {
    FileHandle.standardError.write(Data(text.utf8))
    var old = termios()
    tcgetattr(STDIN_FILENO, &old)
    var silent = old
    silent.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    guard let line = readLine(strippingNewline: true) else { throw ExitStatus.failure }
    return line
}

extension DatabaseOptions {
    /// The quality system's periods and limits from --config's `qms:` section (defaults without it).
    func qualitySettings() throws -> QualitySettings {
        guard let config else { return QualitySettings() }
        do { return try ControlConfig.load(path: config).quality } catch {
            note("\(error)")
            throw ExitStatus.usage
        }
    }
}
