import Foundation
import Testing
import TestSupport

@Suite("Installing as a hardened systemd service", .serialized)
struct InstallTests {
    @Test("install into a DESTDIR lays out binaries, profiles, docs, config and units; the unit verifies and is hardened")
    func installTree() throws {
        let stage = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-stage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stage) }
        let binaries = executable("pocared").deletingLastPathComponent().path
        let install = Process()
        install.executableURL = packageRoot.appendingPathComponent("scripts/install.sh")
        install.environment = ProcessInfo.processInfo.environment.merging(
            ["PREFIX": "/usr", "DESTDIR": stage.path, "BIN_DIR": binaries]) { _, new in new }
        install.standardOutput = FileHandle.nullDevice
        try install.run()
        install.waitUntilExit()
        #expect(install.terminationStatus == 0)

        let expected = [
            "usr/bin/pocared", "usr/bin/pocarectl", "usr/bin/pocare-sim",
            "usr/share/pocare/DeviceProfiles/rocking-bag-rb50.yaml", "usr/share/doc/pocare/operations.md",
            "usr/share/doc/pocare/mqtt.md", "usr/lib/systemd/system/pocared.service", "usr/lib/sysusers.d/pocare.conf",
            "usr/lib/tmpfiles.d/pocare.conf", "etc/pocare/site.yaml", "etc/pocare/specs/cart-expansion-example.yaml",
        ]
        for path in expected {
            #expect(FileManager.default.fileExists(atPath: stage.appendingPathComponent(path).path), "\(path) installed")
        }
        #expect(FileManager.default.isExecutableFile(atPath: stage.appendingPathComponent("usr/bin/pocared").path))
        let unit = try String(contentsOfFile: stage.appendingPathComponent("usr/lib/systemd/system/pocared.service").path, encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/pocared --config /etc/pocare/site.yaml"))
        #expect(!unit.contains("@BINDIR@"))
        let config = try String(contentsOfFile: stage.appendingPathComponent("etc/pocare/site.yaml").path, encoding: .utf8)
        #expect(config.contains("profile_dir: /usr/share/pocare/DeviceProfiles"))

        // systemd-analyze checks the unit against the staged binary.
        let verifiable = FileManager.default.temporaryDirectory.appendingPathComponent("pocared-\(UUID().uuidString.prefix(6)).service")
        defer { try? FileManager.default.removeItem(at: verifiable) }
        try unit.replacingOccurrences(of: "/usr/bin/", with: stage.appendingPathComponent("usr/bin").path + "/")
            .write(to: verifiable, atomically: true, encoding: .utf8)
        #expect(runStatus("/usr/bin/systemd-analyze", ["verify", verifiable.path]) == 0)
        let security = try run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--root=\(stage.path)", "pocared.service"])
        let line = try #require(security.output.split(separator: "\n").last { $0.contains("Overall exposure level") })
        let score = try #require(Double(line.split(separator: ":").last?.split(separator: " ").first ?? ""))
        #expect(score <= 2.0, "\(line)")
    }

    @Test("PARTS=control installs pocare-control, its unit, its user and an example control.yaml; the unit verifies and is no more exposed than the site's")
    func installControlSite() throws {
        let stage = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-stage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stage) }
        let binaries = executable("pocare-control").deletingLastPathComponent().path
        let install = Process()
        install.executableURL = packageRoot.appendingPathComponent("scripts/install.sh")
        install.environment = ProcessInfo.processInfo.environment.merging(
            ["PREFIX": "/usr", "DESTDIR": stage.path, "BIN_DIR": binaries, "PARTS": "site control"]) { _, new in new }
        install.standardOutput = FileHandle.nullDevice
        try install.run()
        install.waitUntilExit()
        #expect(install.terminationStatus == 0)
        for path in ["usr/bin/pocare-control", "usr/lib/systemd/system/pocare-control.service", "usr/lib/sysusers.d/pocare-control.conf",
                     "etc/pocare/control.yaml", "usr/share/doc/pocare/control-site.md", "usr/bin/pocared"] {
            #expect(FileManager.default.fileExists(atPath: stage.appendingPathComponent(path).path), "\(path) installed")
        }
        let unit = try String(contentsOfFile: stage.appendingPathComponent("usr/lib/systemd/system/pocare-control.service").path, encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/pocare-control run --config /etc/pocare/control.yaml"))
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec="))
        let verifiable = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-control-\(UUID().uuidString.prefix(6)).service")
        defer { try? FileManager.default.removeItem(at: verifiable) }
        try unit.replacingOccurrences(of: "/usr/bin/", with: stage.appendingPathComponent("usr/bin").path + "/")
            .write(to: verifiable, atomically: true, encoding: .utf8)
        #expect(runStatus("/usr/bin/systemd-analyze", ["verify", verifiable.path]) == 0)
        func exposure(_ unit: String) throws -> Double {
            let security = try run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--root=\(stage.path)", unit])
            let line = try #require(security.output.split(separator: "\n").last { $0.contains("Overall exposure level") })
            return try #require(Double(line.split(separator: ":").last?.split(separator: " ").first ?? ""))
        }
        let control = try exposure("pocare-control.service"), site = try exposure("pocared.service")
        #expect(control <= site, "pocare-control \(control), pocared \(site)")

        // The shipped example is a valid control.yaml apart from the site's own files it names.
        let example = try String(contentsOfFile: stage.appendingPathComponent("etc/pocare/control.yaml").path, encoding: .utf8)
        #expect(example.contains("database:") && example.contains("broker:"))
    }
}

