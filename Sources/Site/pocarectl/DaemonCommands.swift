import ArgumentParser
import ControlAPI
import POCareContract
import Foundation
import POCareCore

struct SocketOption: ParsableArguments {
    @Option(help: "The daemon's control socket (default: $POCARE_SOCKET or \(ControlClient.defaultPath)).")
    var socket: String?

    @Option(help: "The person you act for, when pocarectl runs as root (the site's control.require_user makes it a must); `audit show`: only entries by this user.")
    var user: String?

    var path: String { socket ?? ProcessInfo.processInfo.environment["POCARE_SOCKET"] ?? ControlClient.defaultPath }

    /// Sends one command and returns its result if it is of the kind `expected` picks; exits 3
    /// when the daemon cannot be reached, 1 when it refuses.
    func send<Result>(_ command: ControlCommand, _ expected: (ControlResult) -> Result?) throws -> Result {
        let answer: ControlResult
        do {
            // Only an action names the person it is done for; a read acts for no one.
            answer = try ControlClient(path: path, user: command.changesState ? user : nil).call(command)
        } catch .refused(let failure) {
            note("\(failure.code.rawValue): \(failure.message)")
            throw ExitStatus.failure
        } catch {
            note("\(error)")
            throw ExitStatus.unreachable
        }
        guard let result = expected(answer) else {
            note("unexpected answer from pocared to \(command.name.rawValue): \(answer.payloadJSON.prefix(200))")
            throw ExitStatus.failure
        }
        return result
    }
}

/// One result as the JSON `--json` prints: the same shape the daemon sends.
/// An answer that cannot be written as JSON ends the command with a failure and the reason,
/// never with an empty object a script would take for an answer.
func printJSON(_ value: some Encodable) {
    do {
        print(String(decoding: try JSONEncoder.control.encode(value), as: UTF8.self))
    } catch {
        note("the answer could not be written as JSON: \(error)")
        Foundation.exit(1)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The daemon at a glance: version, store, Control Site link, devices, alarms.",
        discussion: """
            Exit codes: 0, 3 when the daemon cannot be reached.

            Examples:
              pocarectl status
              pocarectl status --json | jq .devices
            """)

    @OptionGroup var daemon: SocketOption

    @Flag(help: "Print the daemon's answer as JSON.")
    var json = false

    /// Who may act: the personnel register in force, or what holds without one.
    static func personnelLine(_ status: StatusReport) -> String {
        var line: String
        if let register = status.personnelRegister {
            line = "personnel     register version \(register.version) (\(register.hash.dropFirst("sha256:".count).prefix(12))), "
                + "\(status.personnelListed ?? 0) people, approved by \(register.signedBy) at \(register.signedAt), received \(register.received)"
        } else {
            line = "personnel     NO REGISTER received from the Control Site: anyone the socket admits acts"
        }
        if status.allowUnregisteredOperators == true { line += "; UNREGISTERED ALLOWED (personnel.allow_unregistered: each action audited as an exception)" }
        if status.requireUserForRoot == true { line += "; root names the person (control.require_user)" }
        return line
    }

    func run() throws {
        let status = try daemon.send(.status) { if case .status(let r) = $0 { r } else { nil } }
        if json { return printJSON(status) }
        let store = status.store
        print("pocared \(status.version) at site \(status.site), up \(status.uptimeS) s")
        print("store         \(store.path): \(store.committedRows) rows committed since start, \(store.pendingRows) waiting, \(store.freeBytes.map { "\($0 >> 20) MiB" } ?? "unknown") free, oldest undelivered \(store.oldestUndelivered ?? "none"), epoch \(store.epoch ?? "-")\(store.healthy ? "" : ", NOT COMMITTING")")
        if let problem = store.fileProblem { print("STORE LOST    \(problem)") }
        print("specs         \(status.specs.isEmpty ? "-" : status.specs.joined(separator: ", "))")
        if let register = status.specRegister {
            print("released specs register version \(register.version) (\(register.hash.dropFirst("sha256:".count).prefix(12))), released by \(register.signedBy) at \(register.signedAt), received \(register.received)")
        } else {
            print("released specs NONE RECEIVED from the Control Site")
        }
        if status.requireSpecRelease == false { print("spec release  NOT REQUIRED (specs.require_release: false): batch records say so") }
        print(Self.personnelLine(status))
        if let link = status.controlSite {
            print("control site  \(link.connected ? "connected" : "NOT connected"), backlog \(link.backlog), last delivery \(link.lastDelivery ?? "never")\(link.connected ? "" : link.lastError.map { " (\($0))" } ?? "")")
        } else {
            print("control site  not configured")
        }
        print("alarms        \(status.alarms.active) active, \(status.alarms.unacknowledged) unacknowledged")
        if let service = status.outOfService, !service.isEmpty {
            print("out of service \(service.map { "\($0.target) (since \($0.since) by \($0.user): \($0.reason))" }.joined(separator: ", "))")
        }
        var rows = [["device", "profile", "connected", "communication", "last good poll", "alarms", "batch", "phase", "spec"]]
        for device in status.devices {
            let communication = device.communication == "lost"
                ? "LOST (\(device.missedPolls ?? 0) polls missed)" : (device.missedPolls ?? 0) > 0 ? "ok, \(device.missedPolls!) bad" : "ok"
            rows.append([
                device.id, device.profile, device.connected ? "yes" : "NO", communication,
                device.lastGoodPollS.map { "\(formatNumber($0)) s ago" } ?? "never",
                "\(device.activeAlarms)", device.batch ?? "-",
                device.phase.map { $0 + (device.phaseFromDevice == true ? " (device)" : "") } ?? "-",
                device.spec.map { String($0.dropFirst("sha256:".count).prefix(12)) } ?? "-",
            ])
        }
        print("")
        print(alignedTable(rows))
        // A configured batch that did not start says why, here as in the journal.
        for device in status.devices {
            guard let configured = device.configuredBatch, configured.state != "running" else { continue }
            print("\(device.id): configured batch \(configured.batch): \(configured.state)\(configured.detail.map { " (\($0))" } ?? "")")
        }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the daemon to re-read its configuration, profiles and specs.",
        discussion: """
            A valid configuration is applied between poll cycles and audited with your user name;
            an invalid one is refused with its errors, and the running one goes on (exit 1).

            Example:
              pocarectl reload --reason "CC-2026-118: added reactor-4"
            """)

    @OptionGroup var daemon: SocketOption

    @Option(help: "Why, for the audit trail.")
    var reason: String = "pocarectl reload"

    @Flag(help: "Print the daemon's answer as JSON.")
    var json = false

    func run() throws {
        let answer = try daemon.send(.reload(reason: reason)) { if case .reload(let r) = $0 { r } else { nil } }
        if json { return printJSON(answer) }
        print("configuration applied: \(answer.configuration)")
    }
}
