import ArgumentParser
import ControlSiteRecords
import POCareContract
import Foundation
import POCareConfig

struct Specs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "QA's register of released IPC specs, by fingerprint; every change is audited with your Unix user.",
        subcommands: [Release.self, List.self, Retire.self])

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a spec file: it is validated against the device profiles and registered by its fingerprint.",
            discussion: """
                Example:
                  pocare-control specs release docs/examples/specs/cart-expansion-example.yaml --reason "CC-0042 approved"
                """)
        @Argument(help: "The approved spec file (YAML).") var file: String
        @Option(help: "Why it is released (change control, approval).") var reason: String
        @Option(help: "Folder of device profiles the spec is checked against (default: ./DeviceProfiles, else the installed ones).")
        var profiles: String?
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
            let folder = profiles ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
                .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
            let loaded = SpecLoader.load(path: file, profiles: SpecLoader.profileCatalogue(directory: folder))
            guard let spec = loaded.spec, let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                for d in loaded.diagnostics { note(d.description) }
                throw ExitStatus.failure
            }
            let connection = try db.connect()
            do {
                try SpecRegister.release(spec, text: text, reason: reason, user: unixUser(), on: connection)
            } catch let refusal as SpecRegister.Refusal {
                note(refusal.description)
                throw ExitStatus.failure
            }
            emit("released \(spec.fingerprint) (\(spec.identity.documentId) version \(spec.identity.version))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The register: every spec released, and which are retired.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let entries = try SpecRegister.list(on: try db.connect())
            if json { return try emitJSON(entries) }
            emitTable(
                ["FINGERPRINT", "STATUS", "DOCUMENT", "VERSION", "RELEASED", "BY", "REASON"],
                entries.map { e in
                    [short(e.fingerprint), e.status, e.document, e.version, e.released, e.releasedBy,
                     e.retired.map { _ in "retired: \(e.retireReason ?? "")" } ?? e.releaseReason]
                })
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire a released spec: batches that run it from now on are nonconforming.",
            discussion: """
                Example:
                  pocare-control specs retire 3f2a9c01b7e4 --reason "superseded by version 1.1 (CC-0051)"
                """)
        @Argument(help: "The fingerprint, or its first 12 hex digits.") var fingerprint: String
        @Option(help: "Why it is retired.") var reason: String
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
            let connection = try db.connect()
            do {
                let full = try SpecRegister.retire(fingerprint, reason: reason, user: unixUser(), on: connection)
                emit("retired \(full)")
            } catch let refusal as SpecRegister.Refusal {
                note(refusal.description)
                throw ExitStatus.failure
            }
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Control Site's own audit trail (every QA action), and a walk of its hash chain.",
        discussion: """
            Exit code 1 when the chain is broken.
            Example:
              pocare-control audit --json
            """)
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let entries = try ControlAuditTrail.entries(try db.connect())
        let broken = ControlAuditTrail.firstBroken(entries)
        if json {
            struct Output: Encodable {
                var entries: [ControlAuditTrail.Entry]
                var intact: Bool
                var firstBroken: Int64?
                var reason: String?
            }
            try emitJSON(Output(entries: entries, intact: broken == nil, firstBroken: broken?.seq, reason: broken?.reason))
        } else {
            emitTable(
                ["SEQ", "TIME", "USER", "ACTION", "TARGET", "REASON"],
                entries.map { e in
                    [String(e.seq), isoTime(nanoseconds: e.timeNanoseconds), e.action.user, e.action.action, e.action.target,
                     e.action.reason ?? "-"]
                })
            emit(broken.map { "chain broken at entry \($0.seq): \($0.reason)" } ?? "chain intact: \(entries.count) entries")
        }
        if broken != nil { throw ExitStatus.failure }
    }
}

func isoTime(nanoseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
}
