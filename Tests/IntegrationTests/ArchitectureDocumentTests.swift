import Foundation
import Testing

/// docs/architecture.md draws what the code imports: its room tables against the `import`
/// lines of `Sources/`, so a new dependency between rooms is a decision someone writes down.
@Suite("The architecture document draws what the code imports")
struct ArchitectureDocumentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Modules of the platform, left out of the tables.
    static let platform: Set<String> = ["Foundation", "FoundationEssentials", "Glibc", "Dispatch", "Synchronization", "Testing"]

    /// Every target folder (`Sources/{part}/{target}`) and the modules its files import.
    static func importsInCode() throws -> [String: (part: String, imports: Set<String>)] {
        var result: [String: (part: String, imports: Set<String>)] = [:]
        let sources = root.appendingPathComponent("Sources")
        let fm = FileManager.default
        for part in try fm.contentsOfDirectory(atPath: sources.path) {
            let partURL = sources.appendingPathComponent(part)
            for target in try fm.contentsOfDirectory(atPath: partURL.path) {
                var imports: Set<String> = []
                let folder = partURL.appendingPathComponent(target)
                guard let walker = fm.enumerator(atPath: folder.path) else { continue }
                for case let file as String in walker where file.hasSuffix(".swift") {
                    let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                    for line in text.split(separator: "\n") {
                        let words = line.split(separator: " ").map(String.init)
                        guard let at = words.firstIndex(of: "import"), at + 1 < words.count,
                              words[..<at].allSatisfy({ $0.hasPrefix("@") || ["public", "package", "internal"].contains($0) })
                        else { continue }
                        let module = words[at + 1].split(separator: ".").first.map(String.init) ?? words[at + 1]
                        if !platform.contains(module) { imports.insert(module) }
                    }
                }
                result[target] = (part, imports)
            }
        }
        return result
    }

    /// The rows of the three room tables: each target named in the first cell, with the
    /// modules of the last cell, and the part (the `### ` heading) it is drawn under.
    static func importsInDocument() throws -> [String: (part: String, imports: Set<String>)] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        guard let start = text.range(of: "## Rooms (Swift targets) and what each imports"),
              let end = text.range(of: "\n## ", range: start.upperBound..<text.endIndex)
        else { return [:] }
        var result: [String: (part: String, imports: Set<String>)] = [:]
        var part = ""
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") {
            if line.hasPrefix("### ") {
                part = line.dropFirst(4).replacingOccurrences(of: " ", with: "")
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, cells[1].hasPrefix("`") else { continue }
            let targets = cells[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`")) }
            let last = cells[cells.count - 2]
            let imports = last == "–" ? [] : Set(last.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            for target in targets { result[target] = (part, imports) }
        }
        return result
    }

    @Test("every room is in the table of its part, with exactly the modules its files import")
    func tablesMatchImports() throws {
        let code = try Self.importsInCode()
        let document = try Self.importsInDocument()
        #expect(!code.isEmpty && !document.isEmpty)
        for (target, actual) in code.sorted(by: { $0.key < $1.key }) {
            guard let drawn = document[target] else {
                Issue.record("docs/architecture.md has no row for \(target) (Sources/\(actual.part)/\(target))")
                continue
            }
            #expect(drawn.part == actual.part, "\(target) lives in Sources/\(actual.part) but is drawn under \(drawn.part)")
            let missing = actual.imports.subtracting(drawn.imports).sorted()
            let stale = drawn.imports.subtracting(actual.imports).sorted()
            #expect(missing.isEmpty && stale.isEmpty,
                    "\(target): imported but not drawn \(missing), drawn but not imported \(stale)")
        }
        for target in document.keys where code[target] == nil {
            Issue.record("docs/architecture.md draws \(target), which is not a folder of Sources/")
        }
    }

    @Test("the halves meet only in Shared: no site room imports a Control Site room, nor the other way")
    func halvesMeetInShared() throws {
        let code = try Self.importsInCode()
        for (target, entry) in code {
            for module in entry.imports {
                guard let other = code[module]?.part else { continue }
                #expect(other == "Shared" || other == entry.part, "\(target) (\(entry.part)) imports \(module) (\(other))")
            }
        }
        #expect(code["pocarectl"]?.imports.contains("SiteRuntime") == false, "pocarectl links the daemon")
    }
}
