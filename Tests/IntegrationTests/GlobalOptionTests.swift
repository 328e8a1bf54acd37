import Foundation
import Testing
import TestSupport

@Suite("pocarectl global options before or after the command")
struct GlobalOptionTests {
    let missing = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-no-daemon-\(UUID().uuidString).sock").path

    @Test("--socket and --user before the command are read as the command's options: unreachable (3), not a usage error (2)")
    func socketFirst() throws {
        for arguments in [["--socket", missing, "status"], ["--socket=\(missing)", "status"], ["status", "--socket", missing],
                          ["--socket", missing, "--json", "alarms"], ["--json", "--socket", missing, "batch", "list"],
                          ["--user", "alice", "--socket", missing, "batch", "end", "str-1", "--reason", "done"],
                          ["--user=alice", "--socket", missing, "status"]] {
            let result = try run("pocarectl", arguments)
            #expect(result.status == 3, "\(arguments): \(result.errors)")
            #expect(result.errors.contains(missing), "the error names the socket")
        }
    }

    @Test("--json and --no-color before a command that reads files")
    func jsonAndNoColorFirst() throws {
        let spec = "docs/examples/specs/cart-expansion-example.yaml"
        let result = try run("pocarectl", ["--no-color", "--json", "spec", "validate", spec])
        #expect(result.status == 0, "\(result.errors)")
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == true)
    }

    @Test("a global option the command does not take is still a usage error")
    func unknownStillUsage() throws {
        #expect(try run("pocarectl", ["--socket", missing, "profile", "validate", "DeviceProfiles/rocking-bag-rb50.yaml"]).status == 2)
        #expect(try run("pocarectl", ["--colour", "status"]).status == 2)
    }
}
