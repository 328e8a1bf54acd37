import ArgumentParser
import ControlSiteRecords
import POCareContract
import Foundation
import Logging

/// Where the oversight commands find the database.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "PostgreSQL connection string (host=… port=… dbname=… user=…) or URI.")
    var database: String?

    @Option(help: "Take the database from this control.yaml.")
    var config: String?

    /// Connects and brings the schema up to date; exit code 3 when the database cannot be reached.
    func connect() throws -> PostgresConnection {
        var info = database ?? ""
        if database == nil, let config {
            do { info = try ControlConfig.database(path: config) } catch {
                note("\(error)")
                throw ExitStatus.usage
            }
        }
        do {
            let connection = try PostgresConnection(info)
            try ControlSchema.migrate(connection, logger: Logger(label: "pocare-control"))
            return connection
        } catch let error as PostgresError where error.kind == .connection {
            note("\(error)")
            throw ExitStatus.unreachable
        } catch {
            note("\(error)")
            throw ExitStatus.failure
        }
    }
}

/// The Unix user running the command, for the audit trail.
func unixUser() -> String {
    if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
    return "uid:\(geteuid())"
}

/// JSON for machines: sorted keys, so output is stable.
func emitJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    emit(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A table for people: columns padded to their widest cell.
func emitTable(_ headers: [String], _ rows: [[String]]) {
    var widths = headers.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    emit(line(headers))
    for row in rows { emit(line(row)) }
}

/// The first 12 hex digits of a fingerprint, enough for a person to compare at a glance.
func short(_ fingerprint: String?) -> String {
    guard let fingerprint else { return "-" }
    return String(fingerprint.replacingOccurrences(of: "sha256:", with: "").prefix(12))
}

func formatAge(_ seconds: Double?) -> String {
    guard let seconds else { return "-" }
    let s = Int(seconds.rounded())
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    if s < 172_800 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}
