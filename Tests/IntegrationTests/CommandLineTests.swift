import Foundation
import Testing
import TestSupport

@Suite("Command line")
struct CommandLineTests {
    @Test("pocarectl profile validate passes the shipped profiles with exit 0")
    func validateShipped() throws {
        let result = try run("pocarectl", ["profile", "validate"] + shippedProfileNames.map { "DeviceProfiles/\($0).yaml" })
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.components(separatedBy: "\n").filter { $0.contains(": ok: ") }.count == 3)
    }

    @Test("pocarectl profile validate points at each error and exits 1")
    func validateBroken() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
            profile: broken
            vendor: Test
            model: X
            parameters:
              - { id: t, table: input_register, address: 0, type: float32, unit: Cel }
              - { id: t, table: input_register, address: 1, type: uint16 }
            """.write(to: file, atomically: true, encoding: .utf8)
        let result = try run("pocarectl", ["profile", "validate", file.path, "DeviceProfiles/rocking-bag-rb50.yaml"])
        #expect(result.status == 1)
        let lines = result.errors.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(file.path):6:11: parameters[1].id: duplicate id 't' (first used by parameters[0])"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("\(file.path):6:") && $0.contains("overlaps") })
        #expect(lines.contains { $0.hasPrefix("\(file.path):6:") && $0.contains("missing unit") })
        #expect(result.output.contains("rocking-bag-rb50.yaml: ok"), "valid files are still checked and reported")
    }

    @Test("profile and spec validation speak JSON too, with the same located diagnostics")
    func validationJSON() throws {
        let profile = try run("pocarectl", ["profile", "validate", "--json", "DeviceProfiles/rocking-bag-rb50.yaml"])
        #expect(profile.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(profile.output.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == true && object["name"] as? String == "rocking-bag-rb50")
        let spec = try run("pocarectl", ["spec", "validate", "--json", "docs/examples/specs/cart-expansion-example.yaml"])
        let specObject = try #require(try JSONSerialization.jsonObject(with: Data(spec.output.utf8)) as? [String: Any])
        #expect((specObject["fingerprint"] as? String)?.hasPrefix("sha256:") == true)
        let shown = try run("pocarectl", ["spec", "show", "--json", "docs/examples/specs/cart-expansion-example.yaml"])
        let shownObject = try #require(try JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any])
        #expect((shownObject["phases"] as? [Any])?.count == 4)
        #expect(try run("pocarectl", ["spec", "show", "docs/examples/specs/cart-expansion-example.yaml"]).output.contains("fingerprint     sha256:"))
        #expect((shownObject["comparability"] as? [Any])?.isEmpty == true)
        // A spec that names a progress variable for a phase shows it.
        let aligned = FileManager.default.temporaryDirectory.appendingPathComponent("aligned-\(UUID().uuidString).yaml")
        // A temporary file left behind is harmless; its removal failing must not hide the result.
        defer { try? FileManager.default.removeItem(at: aligned) }
        try (String(contentsOfFile: "docs/examples/specs/cart-expansion-example.yaml", encoding: .utf8)
             + "\ncomparability:\n  expansion: { align_by: viable_cell_density, bucket: 0.5 }\n").write(to: aligned, atomically: true, encoding: .utf8)
        #expect(try run("pocarectl", ["spec", "show", aligned.path]).output
            .contains("comparability   expansion aligned by viable_cell_density, buckets of 0.5 from 0"))
    }

    @Test("pocarectl with no arguments for validate is a usage error (exit 2)")
    func usageError() throws {
        #expect(try run("pocarectl", ["profile", "validate"]).status == 2)
        #expect(try run("pocarectl", ["no-such-command"]).status == 2)
    }

    @Test("pocared --check accepts the demo site and refuses a broken one, exit 1")
    func daemonCheck() throws {
        let good = try run("pocared", ["--config", "docs/examples/site-demo.yaml", "--check"])
        #expect(good.status == 0, "\(good.errors)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("site-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "site: s\ndevices:\n  - { id: a, profile: nowhere.yaml, address: 'x' }\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let bad = try run("pocared", ["--config", file.path, "--check"])
        #expect(bad.status == 1)
        #expect(bad.errors.contains("\(file.path):3:"))
        #expect(bad.errors.contains("devices[0].address"))
        #expect(bad.errors.contains("not starting"))
    }
}

/// Releases a spec as QA does: two QA users (made once), one requests the release, the other
/// approves the change; returns the command's answers.
func releaseThroughChangeControl(_ spec: String, reason: String = "CC-EXAMPLE-0001", database: String) throws
    -> (request: ProcessResult, approval: ProcessResult)
{
    try throughChangeControl(["specs", "release", spec, "--reason", reason], database: database)
}

/// A change requested by one QA user (`specs release|retire …`, made once) and approved by
/// another, as change control asks; returns the request's and the approval's answers.
func throughChangeControl(_ request: [String], database: String) throws -> (request: ProcessResult, approval: ProcessResult) {
    let password = "integration-test-password\n"
    for (user, full) in [("qa-requester", "QA Requester"), ("qa-approver", "QA Approver")] {
        // Made once: a second add of the same user is refused, and changes nothing.
        _ = try run("pocare-control", ["users", "add", user, "--full-name", full, "--role", "qa", "--iterations", "200000",
                                       "--database", database], input: password)
    }
    let requested = try run("pocare-control", request + ["--user", "qa-requester", "--json", "--database", database], input: password)
    let change = (try? JSONSerialization.jsonObject(with: Data(requested.output.utf8))) as? [String: Any] ?? [:]
    let approval = try run("pocare-control", ["changes", "approve", change["reference"] as? String ?? "?", "--hash",
                                              change["content_hash"] as? String ?? "?", "--user", "qa-approver", "--database", database],
                           input: password)
    return (requested, approval)
}
