import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Numbers too large for their type and paths the daemon must not read, sent the way an
/// operator or a careless file would: each is a clear refusal naming where, and the daemon
/// goes on polling.
@Suite("Hostile input to the commands and the running daemon", .serialized)
struct HostileInputTests {
    func write(_ text: String, _ name: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func ctl(_ fixture: DaemonFixture, _ arguments: [String]) throws -> ProcessResult {
        try run("pocarectl", arguments + ["--socket", fixture.socketPath])
    }

    @Test("a huge duration or size in a profile, a spec or the site configuration is a located error, exit 1")
    func hugeNumbersInFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let profiles = packageRoot.appendingPathComponent("DeviceProfiles")

        let profileText = try String(contentsOf: profiles.appendingPathComponent("rocking-bag-rb50.yaml"), encoding: .utf8)
        for value in ["99999999999d", "9999999999999999999s", "1e300ms"] {
            let profile = try write(
                profileText.replacingOccurrences(of: "response_timeout: ", with: "response_timeout: \(value) #"), "p.yaml", in: directory)
            let result = try run("pocarectl", ["profile", "validate", profile])
            #expect(result.status == 1, "\(value): \(result.errors)")
            #expect((result.output + result.errors).contains("p.yaml:") && (result.output + result.errors).contains("modbus.response_timeout"))
        }

        let specText = try String(
            contentsOf: packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml"), encoding: .utf8)
        let hostileSpec = specText.replacingOccurrences(of: "on_delay: ", with: "on_delay: 1e300ms, was: ")
        #expect(hostileSpec != specText)
        let spec = try write(hostileSpec, "spec.yaml", in: directory)
        let specResult = try run("pocarectl", ["spec", "validate", spec, "--profiles", profiles.path])
        #expect(specResult.status == 1)
        #expect((specResult.output + specResult.errors).contains("on_delay") && (specResult.output + specResult.errors).contains("too large"))

        let config = try write("""
            site: hostile
            profile_dir: \(profiles.path)
            store: { path: \(directory.path)/site.db, retention: 9999999999999999999s, free_space_warning: 1e300GiB }
            devices:
              - { id: r1, profile: rocking-bag-rb50.yaml, address: "127.0.0.1:1502", poll_interval: 99999999999d }
            """, "site.yaml", in: directory)
        let check = try run("pocared", ["--config", config, "--check"])
        #expect(check.status == 1, "\(check.errors)")
        for field in ["store.retention", "store.free_space_warning", "devices[0].poll_interval"] {
            #expect(check.errors.contains("site.yaml:") && check.errors.contains(field), "\(field): \(check.errors)")
        }
    }

    @Test("an operator cannot stop the daemon with a huge shelve, reload or batch spec; each is refused and polling goes on")
    func hugeNumbersToTheDaemon() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon(extra: ["--print-values"])
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })

        let shelve = try ctl(fixture, ["shelve", "rocker-1/anything/limit", "--for", "99999999999d", "--reason", "x"])
        #expect(shelve.status == 1, "\(shelve.errors)")
        #expect(shelve.errors.contains("too large") || shelve.errors.contains("24h"), "\(shelve.errors)")

        // A spec in the configuration's folder (the default spec folder) with a huge delay.
        let specText = try String(
            contentsOf: packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml"), encoding: .utf8)
        let spec = try write(specText.replacingOccurrences(of: "on_delay: ", with: "on_delay: 99999999999d, was: "), "huge.yaml", in: fixture.directory)
        let start = try ctl(fixture, ["batch", "start", "str-1", "--batch", "H-1", "--spec", spec, "--reason", "test"])
        #expect(start.status == 1, "\(start.errors)")
        #expect(start.errors.contains("not a valid spec"), "\(start.errors)")

        let original = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        try original.replacingOccurrences(of: "poll_interval: 100ms", with: "poll_interval: 9999999999999999999s")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let reload = try ctl(fixture, ["reload", "--reason", "test"])
        #expect(reload.status == 1 && reload.errors.contains("poll_interval"), "\(reload.errors)")

        // Dates past what 64-bit nanoseconds hold, and a negative count.
        #expect(try ctl(fixture, ["audit", "show", "--since", "9999-12-31T00:00:00Z"]).status == 0)
        #expect(try ctl(fixture, ["audit", "show", "--until", "0001-01-01T00:00:00Z", "--last", "-3"]).status != 132)

        let before = daemon.output.count
        #expect(await waitFor(upTo: .seconds(10)) { daemon.output.count > before + 10 }, "polling goes on")
        #expect(daemon.isRunning)
        #expect(try ctl(fixture, ["status"]).status == 0)
    }

    @Test("batch start cannot make the daemon read a file outside the spec folder, nor quote it")
    func specOutsideTheFolder() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { FileManager.default.fileExists(atPath: fixture.socketPath) })
        // A file only the daemon's user may read, with a line that must never reach the operator.
        let secretDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: secretDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: secretDirectory) }
        let secret = try write("root:$6$secret-hash-line:19000:0:99999:7:::\n", "shadow", in: secretDirectory)
        chmod(secret, 0o600)
        try FileManager.default.createSymbolicLink(
            atPath: fixture.directory.appendingPathComponent("innocent.yaml").path, withDestinationPath: secret)

        for reference in [secret, "/etc/shadow", fixture.directory.appendingPathComponent("innocent.yaml").path, "../\(secretDirectory.lastPathComponent)/shadow"] {
            let result = try ctl(fixture, ["batch", "start", "str-1", "--batch", "X-1", "--spec", reference, "--reason", "test"])
            #expect(result.status == 1, "\(reference)")
            #expect(!result.errors.contains("secret-hash-line") && !result.errors.contains("root:"), "\(reference): \(result.errors)")
            #expect(result.errors.contains("outside the spec folders") || result.errors.contains("no spec file"), "\(reference): \(result.errors)")
        }
        // A file in the folder that is not a spec is answered with where, not with its words.
        let notSpec = try write("password: hunter2-do-not-print\n", "notes.yaml", in: fixture.directory)
        let result = try ctl(fixture, ["batch", "start", "str-1", "--batch", "X-1", "--spec", notSpec, "--reason", "test"])
        #expect(result.status == 1 && result.errors.contains("not a valid spec") && !result.errors.contains("hunter2"), "\(result.errors)")
        #expect(daemon.isRunning)
    }
}
