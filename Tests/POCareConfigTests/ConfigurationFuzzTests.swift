import Foundation
import POCareConfig
import POCareCore
import PropertyBased
import Testing

/// Mutates the shipped profiles, the example spec and the demo site configuration the way a
/// careless edit or a hostile file would, and holds every loader to one rule: it answers with
/// a result or with located diagnostics, and never traps, hangs or accepts without a word.
/// A longer run: `POCARE_FUZZ_COUNT=20000 swift test --filter ConfigurationFuzz`
/// (scripts/fuzz-config.sh).
@Suite("Configuration files under mutation")
struct ConfigurationFuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let count = Int(ProcessInfo.processInfo.environment["POCARE_FUZZ_COUNT"] ?? "") ?? 200

    /// Values that broke or could break a parser: too large for their type, negative,
    /// not finite, of the wrong type, empty, deeply nested, aliased, huge.
    static let hostileValues: [String] = [
        "99999999999d", "9999999999999999999s", "1e300ms", "1e300", "-1e300", "1e300GiB", "9e18", "-9223372036854775809",
        "9223372036854775807", "18446744073709551616", "0x7FFFFFFFFFFFFFFF", "-0x8000000000000000", "-1", "-0", "0",
        "1e-320", ".nan", ".inf", "-.inf", "nan", "inf", "NaN", "1_000_000_000_000_000_000_000", "65536", "-65537",
        "\"\"", "~", "null", "[]", "{}", "[1, 2, 3]", "{a: b}", "true", "no", "'quoted'", "!!binary AAAA", "!!float 1e999",
        "&anchor 5", "*missing", String(repeating: "9", count: 5000), String(repeating: "x", count: 70_000),
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300), "\u{0}", "\u{FEFF}", "ünïcødé", "1.5.5",
        "0.000000001ms", "5 m", "1 h", "2 d", "-5s", "1e3d", "10y",
    ]

    enum Mutation {
        case deleteLine(Int)
        case duplicateLine(Int)
        case replaceValue(line: Int, value: Int)
        case indent(line: Int, by: Int)
        case insertAliasBomb
        case truncate(at: Int)
    }

    static let mutation: Generator<Mutation, some SendableSequenceType> = zip(Gen.int(in: 0...5), Gen.int(in: 0...1_000_000), Gen.int(in: 0...1_000_000))
        .map { kind, a, b in
            switch kind {
            case 0: .deleteLine(a)
            case 1: .duplicateLine(a)
            case 2, 3: .replaceValue(line: a, value: b)
            case 4: b % 3 == 0 ? .insertAliasBomb : .indent(line: a, by: b % 2 == 0 ? 2 : -2)
            default: .truncate(at: a)
            }
        }

    static func apply(_ mutations: [Mutation], to text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        for mutation in mutations where !lines.isEmpty {
            switch mutation {
            case .deleteLine(let n): lines.remove(at: n % lines.count)
            case .duplicateLine(let n): lines.insert(lines[n % lines.count], at: n % lines.count)
            case .replaceValue(let n, let v):
                // The value after the last ": " (or the whole item after "- "), so keys stay and
                // the hostile value reaches the field's own check.
                let index = n % lines.count
                let line = lines[index]
                let value = hostileValues[v % hostileValues.count]
                if let colon = line.range(of: ": ", options: .backwards) {
                    lines[index] = line[..<colon.upperBound] + value
                } else if let dash = line.range(of: "- ") {
                    lines[index] = line[..<dash.upperBound] + value
                } else {
                    lines[index] = line + " " + value
                }
            case .indent(let n, let by):
                let index = n % lines.count
                lines[index] = by > 0 ? String(repeating: " ", count: by) + lines[index] : String(lines[index].dropFirst(-by))
            case .insertAliasBomb:
                lines += ["bomb0: &b0 [x, x, x, x, x, x, x, x]"] + (1...9).map { "bomb\($0): &b\($0) [*b\($0 - 1), *b\($0 - 1), *b\($0 - 1), *b\($0 - 1), *b\($0 - 1), *b\($0 - 1), *b\($0 - 1), *b\($0 - 1)]" }
            case .truncate(let n):
                lines = Array(lines.prefix(n % lines.count))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Either a result, or errors that each name a place in the file.
    static func expectLocated(_ diagnostics: [Diagnostic], accepted: Bool, file: String, _ mutated: String) {
        if !accepted {
            #expect(diagnostics.contains { $0.severity == .error }, "refused without saying why:\n\(mutated.prefix(2000))")
        }
        for d in diagnostics {
            #expect(d.file == file && d.line >= 1 && d.column >= 1 && !d.field.isEmpty && !d.message.isEmpty, "\(d)")
            #expect(d.message.count < 2000, "a diagnostic quotes at most a short piece of the value: \(d.message.prefix(200))...")
        }
    }

    @Test("mutated device profiles: a profile or located errors, never a trap")
    func profiles() async throws {
        let files = ["rocking-bag-rb50", "stirred-tank-str10", "cell-processing-cpu1"].map {
            Self.root.appendingPathComponent("DeviceProfiles/\($0).yaml").path
        }
        let texts = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
        await propertyCheck(count: Self.count, input: Gen.int(in: 0...2), Self.mutation.array(of: 1...4)) { which, mutations in
            let mutated = Self.apply(mutations, to: texts[which])
            let result = ProfileLoader.parse(mutated, file: files[which])
            Self.expectLocated(result.diagnostics, accepted: result.profile != nil, file: files[which], mutated)
        }
    }

    @Test("mutated IPC specs: a spec or located errors, never a trap")
    func specs() async throws {
        let file = Self.root.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml").path
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let catalogue = SpecLoader.profileCatalogue(directory: Self.root.appendingPathComponent("DeviceProfiles").path)
        await propertyCheck(count: Self.count, input: Self.mutation.array(of: 1...4)) { mutations in
            let mutated = Self.apply(mutations, to: text)
            let result = SpecLoader.parse(mutated, file: file, profiles: catalogue)
            Self.expectLocated(result.diagnostics, accepted: result.spec != nil, file: file, mutated)
        }
    }

    @Test("mutated site configurations: a configuration or located errors, never a trap")
    func siteConfigurations() async throws {
        let file = Self.root.appendingPathComponent("docs/examples/site-demo.yaml").path
        let text = try String(contentsOfFile: file, encoding: .utf8) + """

            store: { path: /nonexistent/site.db, commit_interval: 100ms, retention: 30d, free_space_warning: 512MiB, free_space_limit: 64MiB }
            """
        await propertyCheck(count: Self.count, input: Self.mutation.array(of: 1...4)) { mutations in
            let mutated = Self.apply(mutations, to: text)
            let result = SiteConfigLoader.parse(mutated, file: file)
            // Diagnostics of the profiles and specs it names carry their own file names.
            let own = result.diagnostics.filter { $0.file == file }
            if result.config == nil {
                #expect(result.diagnostics.contains { $0.severity == .error }, "refused without saying why:\n\(mutated.prefix(2000))")
            }
            Self.expectLocated(own, accepted: true, file: file, mutated)
        }
    }

    @Test("durations and sizes too large for their type are refused by name, at every size")
    func hugeQuantities() {
        for text in ["99999999999d", "9999999999999999999s", "1e300ms", "1e19", "3651d", "1e300h"] {
            guard case .failure(let problem) = DurationText.parse(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(problem.description.contains("too large"), "\(problem)")
        }
        for text in ["1e300GiB", "2000TiB", "1e30"] {
            guard case .failure(let problem) = ByteSizeText.parse(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(problem.description.contains("too large"))
        }
        #expect((try? DurationText.parse("3650d").get()) == .seconds(3650 * 86_400))
        #expect((try? DurationText.parse("250ms").get()) == .milliseconds(250))
        #expect((try? ByteSizeText.parse("64KiB").get()) == 65536)
        for text in ["-5s", "nan", "inf", "", "ms", "1.5.5s", "١٢s"] {
            #expect((try? DurationText.parse(text).get()) == nil, "\(text)")
        }
    }

    // A hang guard, not a speed goal: pairwise checking took many minutes for this file; sorting
    // takes a fraction of a second even in a debug build, and well under the guard with the whole
    // suite running beside it. The speed itself is measured in pocare-bench.
    @Test("a profile of 70,000 parameters is validated (overlaps and all) without comparing every pair", .timeLimit(.minutes(4)))
    func largeProfile() {
        // Two parameters per register address, so every overlap check has work to do; the
        // check must find the one real conflict at the end.
        var lines = ["profile: big", "vendor: V", "model: M", "parameters:"]
        for i in 0..<70_000 {
            lines.append("  - {id: p\(i), table: holding_register, address: \(i / 16), type: bit\(i % 16)}")
        }
        lines.append("  - {id: clash, table: holding_register, address: 10, type: float32, unit: \"1\"}")
        let result = ProfileLoader.parse(lines.joined(separator: "\n"), file: "big.yaml")
        #expect(result.profile == nil)
        #expect(result.diagnostics.count >= 1 && result.diagnostics.allSatisfy { $0.field.hasPrefix("parameters[70000]") }, "\(result.diagnostics.prefix(3))")
    }
}
