import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation

struct Comparisons: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Comparison reports stored for QA's signature (compare --save), their signatures, and the yearly check's due dates.",
        subcommands: [List.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The stored comparisons, newest first, and each site's yearly check due date.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let connection = try db.connect()
            let entries = try StoredComparisons.list(on: connection)
            let checks = try Qualification.yearlyChecks(settings: try db.qualitySettings(), on: connection)
            if json {
                struct Due: Encodable { var site: String; var qualifiedSince: String; var lastComparable: String?; var due: String; var check: String }
                struct Out: Encodable { var comparisons: [StoredComparisons.Entry]; var yearlyCheck: [Due] }
                return try emitJSON(Out(comparisons: entries, yearlyCheck: checks.map {
                    Due(site: $0.site, qualifiedSince: $0.since, lastComparable: $0.lastComparable, due: $0.checkDue ?? "", check: $0.check ?? "")
                }))
            }
            emitTable(["ID", "CREATED", "BY", "KIND", "MODEL", "PHASE", "REFERENCE", "VERDICTS", "REPORT", "SIGNED"], entries.map { e in
                [String(e.id), e.created, e.createdBy, e.kind, e.profile, e.phase, e.reference,
                 e.verdicts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                 (e.intact ? "" : "CHANGED ") + String(e.reportHash.prefix(12)),
                 e.signatures.isEmpty ? "-" : e.signatures.map { "\($0.meaning) by \($0.fullName)\($0.valid ? "" : " INVALID")" }
                    .joined(separator: "; ")]
            })
            if !checks.isEmpty {
                emit("")
                emitTable(["SITE", "QUALIFIED SINCE", "LAST COMPARABLE (APPROVED)", "YEARLY CHECK DUE", "CHECK"], checks.map {
                    [$0.site, $0.since, $0.lastComparable ?? "-", $0.checkDue ?? "-", $0.check ?? "-"]
                })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One stored comparison: the report as stored, its hash and signatures.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "The comparison's id.") var id: Int64
        @Flag(help: "Print the stored report's JSON.") var json = false
        func run() throws {
            let connection = try db.connect()
            guard let (entry, report) = try StoredComparisons.find(id, on: connection) else {
                note("no stored comparison \(id)")
                throw ExitStatus.failure
            }
            if json { return emit(String(decoding: try report.canonicalJSON(pretty: true), as: UTF8.self)) }
            ComparisonText.print(report)
            emit("")
            emit("stored \(entry.created) by \(entry.createdBy), report sha256:\(entry.reportHash)"
                 + (entry.intact ? "" : " -- the stored report no longer hashes to this: CHANGED"))
            for s in entry.signatures {
                emit("signed \(s.meaning) by \(s.fullName) (\(s.role)) \(s.signed)\(s.comment.isEmpty ? "" : ": \(s.comment)")\(s.valid ? "" : " INVALID")")
            }
        }
    }
}
