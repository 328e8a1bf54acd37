import ArgumentParser
import ControlAPI
import POCareContract
import Foundation
import StoreReports
import SiteStore

/// `pocarectl verify`: every record of every stream, not only the audit trail.
struct VerifyRecords: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Walk the hash chain of every stream (samples, events, site events, audit) and name the first record changed, removed or inserted in each.",
        discussion: """
            Exits 0 when every chain is intact and the file is sound, 1 otherwise.

            Example:
              pocarectl verify                                # through the daemon
              pocarectl verify --store /backup/site-2026-11-25.db
              pocarectl verify --export B-2026-118.json             # a batch exported by the Control Site, offline
            """)

    @OptionGroup var source: AuditSource

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(help: "Verify a batch exported by `pocare-control batch export` instead, without a daemon or a database.")
    var export: String?

    func run() throws {
        if let export { return try verifyExport(export) }
        let report: VerificationReport
        if let store = source.store {
            do {
                report = try VerificationReport(try source.reader(store))
            } catch let error as SQLiteError {
                FileHandle.standardError.write(Data("pocarectl: cannot read the store: \(error)\n".utf8))
                throw ExitStatus.failure
            }
        } else {
            report = try source.daemon.send(.verify) { if case .verification(let r) = $0 { r } else { nil } }
        }
        if json {
            printJSON(report)
        } else {
            for stream in report.streams {
                let from = stream.anchorSeq > 0 ? " after record \(stream.anchorSeq) (pruned before)" : ""
                if stream.problems.isEmpty {
                    print("\(stream.stream): intact, \(stream.records) records\(from)")
                } else {
                    print("\(stream.stream): BROKEN: \(stream.problems[0])")
                    for problem in stream.problems.dropFirst().prefix(9) { print("  also: \(problem)") }
                    if stream.problems.count > 10 { print("  and \(stream.problems.count - 10) more") }
                }
            }
            if report.integrityCheck != "ok" { print("store integrity check: \(report.integrityCheck)") }
            print(report.intact ? "all records intact" : "records were CHANGED, REMOVED or INSERTED")
        }
        if !report.intact { throw ExitStatus.failure }
    }
}

extension VerifyRecords {
    /// Every record of the exported batch recomputed and linked, and each segment's end signed by
    /// a key the file registers for the site.
    func verifyExport(_ path: String) throws {
        let file: BatchExport
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            file = try decoder.decode(BatchExport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            FileHandle.standardError.write(Data("pocarectl: \(path) is not a batch export: \(error)\n".utf8))
            throw ExitStatus.failure
        }
        let result = file.verify()
        for line in result.lines { print(line) }
        if !result.intact { throw ExitStatus.failure }
    }
}
