import ComparabilityMethod
import Foundation
import Testing

/// The independent check: `scripts/comparability-check.py` recomputes every fixture with NumPy
/// and SciPy from the written formulas, and every number the method gives must agree to 1e-9
/// relative (1e-12 absolute for numbers that are zero up to rounding), every decision exactly.
/// The test command installs SciPy and says so (POCARE_REQUIRE_SCIPY=1), as CI does (CI=true):
/// there a missing SciPy fails the test instead of skipping it.
@Suite("Comparability checked independently against SciPy")
struct IndependentCheckTests {
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"
        || ProcessInfo.processInfo.environment["POCARE_REQUIRE_SCIPY"] == "1"
    static let python = findPython()

    static func findPython() -> String? {
        let candidates = [ProcessInfo.processInfo.environment["POCARE_PYTHON"], "python3", "/usr/bin/python3"].compactMap { $0 }
        // A candidate that cannot even be started is simply not the interpreter to use.
        return candidates.first { (try? run($0, ["-c", "import numpy, scipy"]))?.status == 0 }
    }

    static func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: Data, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data, String(decoding: errors, as: UTF8.self))
    }

    @Test("every fixture's numbers and decisions agree with SciPy's", .enabled(if: python != nil || required))
    func agreesWithSciPy() throws {
        let python = try #require(Self.python, "python3 with numpy and scipy is needed (scripts/install-deps.sh installs them)")
        let script = Fixture.folder.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/comparability-check.py")
        let result = try Self.run(python, [script.path, Fixture.folder.path])
        #expect(result.status == 0, "\(result.error)")
        let expected = try #require(try JSONSerialization.jsonObject(with: result.output) as? [String: [String: Any]])
        let fixtures = try Fixture.all()
        #expect(fixtures.count >= 9 && Set(expected.keys) == Set(fixtures.map(\.name)))
        var compared = 0
        for fixture in fixtures {
            let ours = fixture.results()
            let theirs = try #require(expected[fixture.name])
            #expect(Set(ours.keys) == Set(theirs.keys),
                    "\(fixture.name): keys only here \(Set(ours.keys).subtracting(theirs.keys).sorted()), only in SciPy's \(Set(theirs.keys).subtracting(ours.keys).sorted())")
            for (key, value) in theirs.sorted(by: { $0.key < $1.key }) {
                guard let mine = ours[key] else { continue }
                compared += 1
                #expect(Self.agrees(mine, value), "\(fixture.name) \(key): \(mine) here, \(value) from SciPy")
            }
        }
        #expect(compared > 300)
    }

    static func agrees(_ mine: Any, _ theirs: Any) -> Bool {
        if let s = theirs as? String { return (mine as? String) == s }
        if let m = mine as? Bool { return (theirs as? Bool) == m }
        guard let number = theirs as? NSNumber else { return false }
        let b = number.doubleValue
        let a: Double
        switch mine {
        case let d as Double: a = d
        case let i as Int: a = Double(i)
        default: return false
        }
        let difference = abs(a - b)
        return difference <= 1e-9 * max(abs(a), abs(b)) || difference <= 1e-12
    }
}
