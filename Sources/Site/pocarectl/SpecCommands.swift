import ArgumentParser
import ControlAPI
import POCareContract
import Foundation
import POCareConfig
import POCareCore

struct SpecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spec", abstract: "Work with in-process control (IPC) specifications.",
        subcommands: [ValidateSpecs.self, ShowSpec.self])
}

struct ProfileFolderOption: ParsableArguments {
    @Option(help: "Folder of device profiles the specs are checked against (default: ./DeviceProfiles, else the installed ones).")
    var profiles: String?

    func catalogue() throws -> [String: DeviceProfile] {
        let candidates = ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
        let profiles = self.profiles
            ?? candidates.first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: profiles, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("profile folder '\(profiles)' does not exist; give it with --profiles")
        }
        return SpecLoader.profileCatalogue(directory: profiles)
    }
}

func writeDiagnostics(_ diagnostics: [Diagnostic]) {
    for d in diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
}

struct ValidateSpecs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check IPC specification files against the device profiles they name.",
        discussion: """
            Each problem is printed as file:line:column: field: message. Exits 1 if any file has an
            error, 0 when all are valid; a valid file prints its fingerprint.

            Example:
              pocarectl spec validate docs/examples/specs/cart-expansion-example.yaml
            """)

    @Argument(help: "Specification files (YAML).")
    var files: [String]

    @OptionGroup var folder: ProfileFolderOption

    @Flag(help: "Print one JSON object per file: file, valid, document, fingerprint, diagnostics.")
    var json = false

    func run() throws {
        let catalogue = try folder.catalogue()
        var failed = false
        for file in files {
            let result = SpecLoader.load(path: file, profiles: catalogue)
            if json {
                print(diagnosticsJSON(
                    file: file, valid: result.spec != nil, name: result.spec?.identity.documentId, diagnostics: result.diagnostics,
                    extra: ["fingerprint": result.spec?.fingerprint ?? NSNull()]))
            } else {
                writeDiagnostics(result.diagnostics)
            }
            if let spec = result.spec {
                if !json { print("\(file): ok: \(spec.identity.documentId) version \(spec.identity.version), \(spec.fingerprint)") }
            } else {
                failed = true
            }
        }
        if failed { throw ExitStatus.failure }
    }
}

struct ShowSpec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a specification's identity, fingerprint and limits table.",
        discussion: """
            Example:
              pocarectl spec show docs/examples/specs/cart-expansion-example.yaml
            """)

    @Argument(help: "Specification file (YAML).")
    var file: String

    @OptionGroup var folder: ProfileFolderOption

    @Flag(help: "Print the spec's identity, fingerprint and limits as JSON.")
    var json = false

    func run() throws {
        let result = SpecLoader.load(path: file, profiles: try folder.catalogue())
        writeDiagnostics(result.diagnostics)
        guard let spec = result.spec else { throw ExitStatus.failure }
        let id = spec.identity
        if json {
            func n(_ v: Double?) -> Any { v ?? NSNull() }
            let object: [String: Any] = [
                "comparability": spec.alignments.map { ["phase": $0.phase, "align_by": $0.parameterId, "bucket": $0.bucket, "from": $0.from] },
                "product": id.product, "process": id.process, "document": id.documentId, "version": id.version,
                "approved_by": id.approvedBy, "approval_date": id.approvalDate, "change_control": id.changeControl,
                "profiles": id.profiles, "fingerprint": spec.fingerprint, "communication_loss_polls": spec.communicationLossPolls,
                "phases": spec.phases.map { phase in
                    ["phase": phase.phase, "limits": phase.limits.map { l in
                        ["parameter": l.parameterId, "unit": l.unit, "target": n(l.target), "alert_low": n(l.alertLow),
                         "alert_high": n(l.alertHigh), "action_low": n(l.actionLow), "action_high": n(l.actionHigh),
                         "max_rate_per_min": n(l.maxRatePerMinute), "deadband": l.deadband, "priority": l.priority.rawValue,
                         "alarm_when": discreteWhen(l) ?? NSNull(), "alarm_labels": discreteLabels(l) ?? NSNull(),
                         "level": l.discrete == nil ? NSNull() : l.discreteLevel.rawValue, "latch": l.latch] as [String: Any]
                    }] as [String: Any]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            return print(String(decoding: data, as: UTF8.self))
        }
        print("""
            product         \(id.product)
            process         \(id.process)
            document        \(id.documentId) version \(id.version)
            approved by     \(id.approvedBy) on \(id.approvalDate)
            change control  \(id.changeControl)
            profiles        \(id.profiles.joined(separator: ", "))
            rules           communication lost after \(spec.communicationLossPolls) polls without a good value\(spec.running.map { "; evaluated while \($0.parameterId)\($0.labels.isEmpty ? "" : " is " + $0.labels.joined(separator: "/"))" } ?? "")
            fingerprint     \(spec.fingerprint)

            """)
        for a in spec.alignments {
            print("comparability   \(a.phase) aligned by \(a.parameterId), buckets of \(formatNumber(a.bucket)) from \(formatNumber(a.from))")
        }
        if !spec.alignments.isEmpty { print("") }
        var rows = [["phase", "parameter", "unit", "target", "action low", "alert low", "alert high", "action high",
                     "rate/min", "on delay", "off delay", "deadband", "stale after", "priority", "alarm when", "latch"]]
        func n(_ v: Double?) -> String { v.map(formatNumber) ?? "-" }
        func d(_ v: Duration?) -> String { v.map { formatNumber(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) + "s" } ?? "-" }
        for phase in spec.phases {
            for l in phase.limits {
                rows.append([phase.phase, l.parameterId, l.unit, n(l.target), n(l.actionLow), n(l.alertLow), n(l.alertHigh),
                             n(l.actionHigh), n(l.maxRatePerMinute), d(l.onDelay), d(l.offDelay), l.discrete == nil ? n(l.deadband) : "-",
                             d(l.staleAfter), l.priority.rawValue, discreteText(l), l.latch ? "yes" : "-"])
            }
        }
        print(alignedTable(rows))
    }
}

func discreteWhen(_ l: ParameterLimits) -> Bool? {
    if case .flag(let when)? = l.discrete { when } else { nil }
}

func discreteLabels(_ l: ParameterLimits) -> [String]? {
    if case .labels(let labels)? = l.discrete { labels } else { nil }
}

/// `true`, `false` or `fault|paused`, with the level when it is action.
func discreteText(_ l: ParameterLimits) -> String {
    guard l.discrete != nil else { return "-" }
    let condition = discreteWhen(l).map { "\($0)" } ?? (discreteLabels(l) ?? []).joined(separator: "|")
    return l.discreteLevel == .action ? "\(condition) (action)" : condition
}

/// Left-aligned text columns, two spaces apart.
/// Columns padded by the width a person sees, so coloured cells do not shift the next column.
func alignedTable(_ rows: [[String]]) -> String {
    WatchScreen.alignedRows(rows).joined(separator: "\n")
}
