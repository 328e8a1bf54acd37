import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import POCareContract
import Foundation
import POCareConfig

struct Specs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "QA's register of released IPC specs, by fingerprint: releasing and retiring are change requests a second QA person approves.",
        subcommands: [Release.self, List.self, Retire.self])

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Request the release of a spec file: validated against the device profiles, released by its fingerprint once a second QA person approves the change.",
            discussion: """
                Example:
                  pocare-control specs release docs/examples/specs/cart-expansion-example.yaml --reason "approved under DOC-77" --user jdoe
                  pocare-control changes approve CC-7 --user asmith          # a second person
                """)
        @Argument(help: "The approved spec file (YAML).") var file: String
        @Option(help: "Why it is released (the approval it rests on).") var reason: String
        @Option(help: "Folder of device profiles the spec is checked against (default: ./DeviceProfiles, else the installed ones).")
        var profiles: String?
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
            let folder = profiles ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
                .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
            let loaded = SpecLoader.load(path: file, profiles: SpecLoader.profileCatalogue(directory: folder))
            guard let spec = loaded.spec else {
                for d in loaded.diagnostics { note(d.description) }
                throw ExitStatus.failure
            }
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                note("\(file): cannot read it again to keep its text: \(error.localizedDescription)")
                throw ExitStatus.failure
            }
            let connection = try db.connect()
            let id = spec.identity
            let content = ChangeContent.specRelease(.init(
                fingerprint: spec.fingerprint, product: id.product, document: id.documentId, version: id.version, approvedBy: id.approvedBy,
                approvalDate: id.approvalDate, profiles: id.profiles, specText: text))
            let actor = try credentials.actor(on: connection, action: "change.request", target: "spec.release \(spec.fingerprint)")
            let change = try quality { try ChangeControl.request(content, reason: reason, by: actor, on: connection) }
            try emitRequested(change, json: json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The register: every spec released, and which are retired, with the changes that did it.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let entries = try SpecRegister.list(on: try db.connect())
            if json { return try emitJSON(entries) }
            emitTable(
                ["FINGERPRINT", "STATUS", "DOCUMENT", "VERSION", "MODELS", "RELEASED", "BY", "CHANGE", "REASON"],
                entries.map { e in
                    [short(e.fingerprint), e.status, e.document, e.version, e.profiles.joined(separator: ","), e.released, e.releasedBy,
                     [e.releaseChange, e.retireChange].compactMap { $0.map { "CC-\($0)" } }.joined(separator: ","),
                     e.retired.map { _ in "retired: \(e.retireReason ?? "")" } ?? e.releaseReason]
                })
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Request the retirement of a released spec; once approved, batches that start under it are nonconforming.",
            discussion: """
                Example:
                  pocare-control specs retire 3f2a9c01b7e4 --reason "superseded by version 1.1" --user jdoe
                """)
        @Argument(help: "The fingerprint, or its first 12 hex digits.") var fingerprint: String
        @Option(help: "Why it is retired.") var reason: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
            let connection = try db.connect()
            let full = try quality { try SpecRegister.resolve(fingerprint, on: connection) }
            let actor = try credentials.actor(on: connection, action: "change.request", target: "spec.retire \(full)")
            let change = try quality { try ChangeControl.request(.specRetire(fingerprint: full), reason: reason, by: actor, on: connection) }
            try emitRequested(change, json: json)
        }
    }
}

/// A change request's answer: its number, what it changes, and who must act next.
func emitRequested(_ change: ChangeControl.Record, json: Bool) throws {
    if json { return try emitJSON(change) }
    emit("\(change.reference) requested: \(change.summary)")
    emit("content sha256:\(change.contentHash)")
    emit("it takes effect when a second QA person approves it: pocare-control changes approve \(change.reference) --hash \(change.contentHash.prefix(12)) --user NAME")
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
