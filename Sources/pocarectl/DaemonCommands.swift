import ArgumentParser
import ControlAPI
import Foundation

struct SocketOption: ParsableArguments {
    @Option(help: "The daemon's control socket (default: $POCARE_SOCKET or \(ControlClient.defaultPath)).")
    var socket: String?

    var path: String { socket ?? ProcessInfo.processInfo.environment["POCARE_SOCKET"] ?? ControlClient.defaultPath }

    /// Sends one request; exits 3 when the daemon cannot be reached, 1 when it refuses.
    func send(_ command: String, _ arguments: [String: String] = [:]) throws -> String {
        let response: ControlResponse
        do {
            response = try ControlClient(path: path).send(ControlRequest(command: command, arguments: arguments))
        } catch {
            note("\(error)")
            throw ExitStatus.unreachable
        }
        guard response.ok, let result = response.result else {
            note(response.error.map { "\($0.code.rawValue): \($0.message)" } ?? "the daemon refused without a reason")
            throw ExitStatus.failure
        }
        return result
    }
}

func object(_ json: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
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

    func run() throws {
        let result = try daemon.send("status")
        if json {
            print(result)
            return
        }
        let status = object(result)
        let store = status["store"] as? [String: Any] ?? [:]
        let alarms = status["alarms"] as? [String: Any] ?? [:]
        print("pocared \(status["version"] ?? "?") at site \(status["site"] ?? "?"), up \(status["uptime_s"] ?? 0) s")
        print("store         \(store["path"] ?? "?"): \(store["committed_rows"] ?? 0) rows committed since start, \(store["pending_rows"] ?? 0) waiting, \(((store["free_bytes"] as? NSNumber)?.int64Value ?? 0) >> 20) MiB free, oldest undelivered \(store["oldest_undelivered"] as? String ?? "none")\((store["healthy"] as? Bool) == false ? ", NOT COMMITTING" : "")")
        print("specs         \((status["specs"] as? [String])?.joined(separator: ", ") ?? "-")")
        if let link = status["control_site"] as? [String: Any] {
            let connected = (link["connected"] as? Bool) == true
            print("control site  \(connected ? "connected" : "NOT connected"), backlog \(link["backlog"] ?? 0), last delivery \(link["last_delivery"] as? String ?? "never")\(connected ? "" : (link["last_error"] as? String).map { " (\($0))" } ?? "")")
        } else {
            print("control site  not configured")
        }
        print("alarms        \(alarms["active"] ?? 0) active, \(alarms["unacknowledged"] ?? 0) unacknowledged")
        var rows = [["device", "profile", "connected", "last good poll", "alarms", "batch", "phase", "spec"]]
        for device in status["devices"] as? [[String: Any]] ?? [] {
            let spec = (device["spec"] as? String).map { String($0.dropFirst(7).prefix(12)) } ?? "-"
            rows.append([
                device["id"] as? String ?? "?", device["profile"] as? String ?? "?",
                (device["connected"] as? Bool) == true ? "yes" : "NO",
                (device["last_good_poll_s"] as? NSNumber).map { "\($0) s ago" } ?? "never",
                "\(device["active_alarms"] ?? 0)", device["batch"] as? String ?? "-", device["phase"] as? String ?? "-", spec,
            ])
        }
        print("")
        print(alignedTable(rows))
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
        let answer = try daemon.send("reload", ["reason": reason])
        print(json ? answer : "configuration applied: \(object(answer)["configuration"] ?? "")")
    }
}
