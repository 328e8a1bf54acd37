import Foundation
import POCareCore
import Yams

/// Collects located diagnostics while one file is read, and remembers where each field was,
/// so checks that run after parsing can still point at the right line and column.
package final class DiagnosticCollector {
    package let file: String
    package private(set) var diagnostics: [Diagnostic] = []
    private var marks: [String: (line: Int, column: Int)] = [:]

    package init(file: String) { self.file = file }

    package func remember(_ path: String, _ mark: Mark?) {
        if let mark { marks[path] = (mark.line, mark.column) }
    }

    package func error(_ path: String, at mark: Mark?, _ message: String) {
        let place = mark.map { ($0.line, $0.column) } ?? marks[path] ?? (1, 1)
        diagnostics.append(Diagnostic(file: file, line: place.0, column: place.1, field: path, message: Self.shortened(message)))
    }

    private func error(_ path: String, line: Int, column: Int, _ message: String) {
        diagnostics.append(Diagnostic(file: file, line: line, column: column, field: path, message: Self.shortened(message)))
    }

    /// Quotes in a message ('like this') are cut to 40 characters: a value of a megabyte must
    /// not become a megabyte of diagnostics, and the place in the file says where the rest is.
    package static func shortened(_ message: String) -> String {
        guard message.count > 200 else { return message }
        var result = ""
        var quoted = ""
        var inQuote = false
        for character in message {
            if character == "'" {
                if inQuote {
                    result += quoted.count > 60 ? "'\(quoted.prefix(40))...' (\(quoted.count) characters)" : "'\(quoted)'"
                    quoted = ""
                }
                inQuote.toggle()
            } else if inQuote {
                quoted.append(character)
            } else {
                result.append(character)
            }
        }
        if inQuote { result += "'" + (quoted.count > 60 ? "\(quoted.prefix(40))..." : quoted) }
        // Under 2,000 characters with the mark of the cut.
        return result.count >= 2000 ? String(result.prefix(1996)) + "..." : result
    }

    /// The line and column (both from 1) of the byte at `offset` of `text`, or of its end.
    static func place(ofByte offset: Int, in text: String) -> (line: Int, column: Int) {
        let bytes = text.utf8.prefix(max(offset, 0))
        let line = 1 + bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        let lineStart = bytes.lastIndex(of: 0x0A).map { bytes.index(after: $0) } ?? bytes.startIndex
        return (line, 1 + String(decoding: bytes[lineStart...], as: UTF8.self).count)
    }

    /// Reports at the remembered place of `path`, or of the nearest remembered parent.
    package func error(_ path: String, _ message: String) {
        var probe = path
        while marks[probe] == nil, let cut = probe.lastIndex(where: { $0 == "." || $0 == "[" }) {
            probe = String(probe[..<cut])
        }
        let place = marks[probe] ?? (1, 1)
        diagnostics.append(Diagnostic(file: file, line: place.0, column: place.1, field: path, message: Self.shortened(message)))
    }

    package var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// A problem that does not make the file invalid, but that its author should know of.
    package func warning(_ path: String, at mark: Mark?, _ message: String) {
        let place = mark.map { ($0.line, $0.column) } ?? marks[path] ?? (1, 1)
        diagnostics.append(Diagnostic(
            file: file, line: place.0, column: place.1, field: path, message: Self.shortened(message), severity: .warning))
    }

    /// Parses YAML text into a node tree, turning libyaml's errors into diagnostics.
    package func compose(_ text: String) -> Node? {
        do {
            // Every value is read from its text by the readers below, never from a resolved tag:
            // the basic resolver spares each program Yams' tag patterns (NSRegularExpression,
            // and with it ICU's regular expressions in memory).
            guard let node = try Yams.compose(yaml: text, .basic) else {
                error("(document)", at: nil, "file is empty")
                return nil
            }
            return node
        } catch let yamlError as YamlError {
            switch yamlError {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                .composer(_, let problem, let mark, _):
                error("(syntax)", at: mark, "YAML syntax error: \(problem)")
            case .reader(let problem, let offset, let value, _):
                // libyaml's reader names a byte, not a line (and Yams' text of it quotes the whole file).
                let place = Self.place(ofByte: offset ?? 0, in: text)
                error("(syntax)", line: place.line, column: place.column,
                      "YAML reader error: \(problem) (character code \(value))")
            case .duplicatedKeysInMapping(let keys, let context):
                let names = keys.map { "'\($0)'" }.joined(separator: ", ")
                error("(syntax)", at: context.mark, "duplicate key \(names) in one mapping (first use here)")
            default:
                error("(syntax)", at: nil, "YAML error: \(yamlError)")
            }
            return nil
        } catch {
            self.error("(syntax)", at: nil, "YAML error: \(error)")
            return nil
        }
    }
}

/// Reads one YAML mapping field by field; every key it was not asked about is reported as unknown.
package struct MappingReader {
    package let mapping: Node.Mapping
    package let path: String
    package let collector: DiagnosticCollector
    private let entries: [String: (key: Node, value: Node)]

    package init?(_ node: Node, path: String, collector: DiagnosticCollector) {
        guard case .mapping(let mapping) = node else {
            collector.error(path.isEmpty ? "(document)" : path, at: node.mark, "expected a mapping of keys to values")
            return nil
        }
        self.mapping = mapping
        self.path = path
        self.collector = collector
        var entries: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            let name = key.scalar?.string ?? "\(key)"
            let fieldPath = Self.join(path, name)
            if entries[name] != nil {
                collector.error(fieldPath, at: key.mark, "duplicate key '\(name)'")
            }
            entries[name] = (key, value)
            collector.remember(fieldPath, value.mark ?? key.mark)
        }
        self.entries = entries
        collector.remember(path, mapping.mark)
    }

    package static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    package var mark: Mark? { mapping.mark }

    package func fieldPath(_ key: String) -> String { Self.join(path, key) }

    /// Reports keys outside `allowed`, suggesting the closest known key.
    package func rejectUnknownKeys(allowed: [String]) {
        for (name, entry) in entries where !allowed.contains(name) {
            let hint = allowed.min { editDistance($0, name) < editDistance($1, name) }
                .flatMap { editDistance($0, name) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
            collector.error(fieldPath(name), at: entry.key.mark, "unknown key '\(name)'\(hint)")
        }
    }

    package func node(_ key: String, required: Bool = false) -> Node? {
        guard let entry = entries[key] else {
            if required { collector.error(fieldPath(key), at: mapping.mark, "missing required key '\(key)'") }
            return nil
        }
        if case .scalar(let s) = entry.value, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) {
            if required { collector.error(fieldPath(key), at: entry.value.mark, "'\(key)' must have a value") }
            return nil
        }
        return entry.value
    }

    package func has(_ key: String) -> Bool { entries[key] != nil }

    package func string(_ key: String, required: Bool = false) -> String? {
        guard let node = node(key, required: required) else { return nil }
        guard case .scalar(let scalar) = node else {
            collector.error(fieldPath(key), at: node.mark, "expected a text value")
            return nil
        }
        return scalar.string
    }

    package func int(_ key: String, required: Bool = false, in range: ClosedRange<Int>? = nil) -> Int? {
        guard let node = node(key, required: required) else { return nil }
        guard case .scalar(let scalar) = node, let value = parseInteger(scalar.string) else {
            collector.error(fieldPath(key), at: node.mark, "expected a whole number")
            return nil
        }
        if let range, !range.contains(value) {
            collector.error(fieldPath(key), at: node.mark, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    package func double(_ key: String, required: Bool = false) -> Double? {
        guard let node = node(key, required: required) else { return nil }
        guard case .scalar(let scalar) = node, let value = Double(scalar.string), value.isFinite else {
            collector.error(fieldPath(key), at: node.mark, "expected a finite number")
            return nil
        }
        return value
    }

    package func bool(_ key: String) -> Bool? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node, let value = Bool.parseYAML(scalar.string) else {
            collector.error(fieldPath(key), at: node.mark, "expected true or false")
            return nil
        }
        return value
    }

    package func duration(_ key: String, required: Bool = false) -> Duration? {
        guard let text = string(key, required: required) else { return nil }
        switch DurationText.parse(text) {
        case .success(let value): return value
        case .failure(let problem):
            collector.error(fieldPath(key), problem.description)
            return nil
        }
    }

    package func mappingReader(_ key: String, required: Bool = false) -> MappingReader? {
        guard let node = node(key, required: required) else { return nil }
        return MappingReader(node, path: fieldPath(key), collector: collector)
    }

    package func sequence(_ key: String, required: Bool = false) -> [Node]? {
        guard let node = node(key, required: required) else { return nil }
        guard case .sequence(let sequence) = node else {
            collector.error(fieldPath(key), at: node.mark, "expected a list")
            return nil
        }
        for (index, item) in sequence.enumerated() {
            collector.remember("\(fieldPath(key))[\(index)]", item.mark)
        }
        return Array(sequence)
    }
}

/// Accepts decimal and 0x-prefixed hexadecimal, as vendor register maps use both.
func parseInteger(_ text: String) -> Int? {
    let t = text.replacingOccurrences(of: "_", with: "")
    if t.hasPrefix("0x") || t.hasPrefix("0X") { return Int(t.dropFirst(2), radix: 16) }
    if t.hasPrefix("-0x") { return Int(t.dropFirst(3), radix: 16).map { -$0 } }
    return Int(t)
}

extension Bool {
    package static func parseYAML(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on": true
        case "false", "no", "off": false
        default: nil
        }
    }
}

/// Levenshtein distance, for the did-you-mean hints of diagnostics.
package func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in 1...b.count {
            let saved = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = saved
        }
    }
    return row[b.count]
}
