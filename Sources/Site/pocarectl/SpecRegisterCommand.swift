import ArgumentParser
import ControlAPI
import Foundation
import POCareCore

/// `pocarectl specs`: the Control Site's register of released specs as this site holds and enforces it.
struct SpecRegisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "specs", abstract: "The Control Site's register of released specs, as this site enforces it.",
        discussion: """
            Lists every spec of the register with its state (released or retired), the equipment
            models it is released for, who released it and when, and the devices running it now.
            A batch starts only under a spec released for its device's model (unless the site
            configuration says specs: { require_release: false }).

            Example:
              pocarectl specs
            """)
    @OptionGroup var daemon: SocketOption
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        let list = try daemon.send(.specs) { if case .specs(let r) = $0 { r } else { nil } }
        if json { return printJSON(list) }
        if let register = list.register {
            print("register of released specs version \(register.version), \(register.hash)")
            print("released by \(register.signedBy) (\(register.signedByUser)) at \(register.signedAt): \(register.meaning)")
            print("received \(register.received)")
        } else {
            print("no register of released specs received from the Control Site: every spec is \"not released\" here")
        }
        if !list.requireRelease { print("release NOT REQUIRED at this site (specs.require_release: false)") }
        guard !list.entries.isEmpty else { return }
        var rows = [["fingerprint", "state", "document", "version", "equipment models", "released by", "released (UTC)", "retired", "running on"]]
        for e in list.entries {
            rows.append([
                String(e.fingerprint.dropFirst("sha256:".count).prefix(12)), e.state, e.document, e.documentVersion,
                e.profiles.joined(separator: ", "), e.releasedBy, e.releasedAt,
                e.retiredAt.map { "\($0) by \(e.retiredBy ?? "-")" } ?? "-", e.runningOn.isEmpty ? "-" : e.runningOn.joined(separator: ", "),
            ])
        }
        print("")
        print(alignedTable(rows))
    }
}
