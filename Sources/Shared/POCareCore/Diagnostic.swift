/// A problem in a file an engineer wrote, located so an editor can jump to it.
/// Printed as `file:line:column: field: message`.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible, Error {
    public enum Severity: String, Sendable { case error, warning }

    public var file: String
    public var line: Int
    public var column: Int
    /// Dotted path of the offending field, e.g. `parameters[3].address`.
    public var field: String
    public var message: String
    public var severity: Severity

    public init(
        file: String, line: Int, column: Int, field: String, message: String, severity: Severity = .error
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
        self.severity = severity
    }

    public var description: String {
        let prefix = severity == .warning ? "warning: " : ""
        return "\(file):\(line):\(column): \(field): \(prefix)\(message)"
    }
}

/// Thrown when a file has errors; carries every diagnostic, not just the first.
public struct ValidationFailed: Error, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
