import Foundation
import POCareConfig
import Testing
import TestSupport

/// Reads the UTC time at the start of a live-view or event line.
func lineTime(_ line: String) -> Date? {
    guard let stamp = line.split(separator: " ").first else { return nil }
    return try? Date(String(stamp), strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}

@Suite("Excursion end to end: pocare-sim and pocared as processes", .serialized)
struct ExcursionEndToEndTests {
    @Test("an injected temperature excursion raises the alarm one poll after the on-delay and clears after return")
    func excursionRaisesAndClears() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // The example spec's temperature limits, with delays short enough for a test.
        let spec = minimalSpecForTests.replacingOccurrences(of: "on_delay: 30s", with: "on_delay: 2s, off_delay: 1s")
        try spec.write(to: directory.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        let port = freeLoopbackPort()
        try """
            site: e2e
            profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)
            store: { path: \(directory.appendingPathComponent("site.db").path) }
            specs: { require_release: false }
            control: { socket: \(directory.appendingPathComponent("pocared.sock").path) }
            devices:
              - id: rocker-1
                profile: rocking-bag-rb50.yaml
                address: "127.0.0.1:\(port)"
                poll_interval: 250ms
                batch: { id: E2E-1, spec: spec.yaml, phase: expansion }
            """.write(to: directory.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        let catalogue = SpecLoader.profileCatalogue(directory: packageRoot.appendingPathComponent("DeviceProfiles").path)
        let loaded = SpecLoader.load(path: directory.appendingPathComponent("spec.yaml").path, profiles: catalogue)
        let fingerprint = try #require(loaded.spec?.fingerprint)

        let simulator = try RunningProcess("pocare-sim", [
            "--device", "rocker-1=DeviceProfiles/rocking-bag-rb50.yaml@127.0.0.1:\(port)", "--no-noise",
            "--fault", "device=rocker-1 kind=excursion parameter=temperature value=38.4 from=3s to=7s",
        ])
        defer { simulator.stop() }
        let daemon = try RunningProcess("pocared", ["--config", directory.appendingPathComponent("site.yaml").path, "--print-values"])
        defer { daemon.stop() }

        let cleared = await daemon.waitForLine { $0.contains("EVENT cleared rocker-1/temperature/limit") }
        #expect(cleared != nil, "stderr: \(daemon.errors.suffix(5)) sim: \(simulator.errors.suffix(5))")
        let lines = daemon.output
        let samples = lines.filter { $0.contains(" rocker-1 temperature=") }
        let firstOut = try #require(samples.first { $0.contains("temperature=38.4 Cel") })
        let firstBack = try #require(samples.drop { !$0.contains("temperature=38.4 Cel") }.first { !$0.contains("temperature=38.4 Cel") })
        let raised = try #require(lines.first { $0.contains("EVENT raised rocker-1/temperature/limit") })

        #expect(raised.contains("level=action"))
        #expect(raised.contains("value=38.4"))
        #expect(raised.contains("limit=38"))
        #expect(raised.contains("spec=\(fingerprint.dropFirst(7).prefix(12))"))
        #expect(raised.contains("batch=E2E-1") && raised.contains("phase=expansion"))

        // Times are the samples' own: the alarm stands at the first poll at least 2 s after the
        // excursion started, and clears at the first poll at least 1 s after the value returned.
        let raisedAt = try #require(lineTime(raised))
        let outAt = try #require(lineTime(firstOut))
        let onDelay = raisedAt.timeIntervalSince(outAt)
        #expect(onDelay >= 2.0 && onDelay < 2.0 + 0.25 + 0.05, "raised \(onDelay) s after the excursion began")
        let clearedLine = try #require(cleared)
        let clearedAt = try #require(lineTime(clearedLine))
        let backAt = try #require(lineTime(firstBack))
        let offDelay = clearedAt.timeIntervalSince(backAt)
        #expect(offDelay >= 1.0 && offDelay < 1.0 + 0.25 + 0.05, "cleared \(offDelay) s after the value returned")

        let excursion = try #require(lines.first { $0.contains("EVENT excursion rocker-1/temperature/limit") })
        #expect(excursion.contains("worst=38.4"))
        #expect(lines.filter { $0.contains("EVENT raised") }.count == 1, "one alarm, no chatter")
    }
}

let minimalSpecForTests = """
    spec:
      product: P
      process: Q
      document: DOC-E2E
      version: "1"
      approved_by: QA
      approval_date: 2026-01-02
      change_control: CC-1
      profiles: [rocking-bag-rb50]
    rules:
      running: { parameter: running }
    phases:
      expansion:
        temperature: { unit: Cel, target: 37, alert_low: 36.5, alert_high: 37.5, action_low: 36, action_high: 38, on_delay: 30s }
    """
