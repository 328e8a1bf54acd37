import Foundation
import POCareCore
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A scratch folder with a simulator and a site configuration polling two devices fast.
final class DaemonFixture {
    let directory: URL
    let simulator: RunningProcess
    var storePath: String { directory.appendingPathComponent("store/site.db").path }
    var configPath: String { directory.appendingPathComponent("site.yaml").path }
    var socketPath: String { directory.appendingPathComponent("pocared.sock").path }

    init(
        pollInterval: String = "50ms", storeBlock: String = "", storeDirectory: URL? = nil, controlSite: String? = nil,
        faults: [String] = [], spec: String? = nil, extraConfig: String = "", requireRelease: Bool = false
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("store"), withIntermediateDirectories: true)
        let rocker = freeLoopbackPort()
        let tank = freeLoopbackPort()
        simulator = try RunningProcess("pocare-sim", [
            "--device", "rocker-1=DeviceProfiles/rocking-bag-rb50.yaml@127.0.0.1:\(rocker)",
            "--device", "str-1=DeviceProfiles/stirred-tank-str10.yaml@127.0.0.1:\(tank)",
        ] + faults.flatMap { ["--fault", $0] })
        var specPath = packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml").path
        if let spec {
            specPath = directory.appendingPathComponent("spec.yaml").path
            try spec.write(toFile: specPath, atomically: true, encoding: .utf8)
        }
        try """
            site: durability
            profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)
            store:
              path: \((storeDirectory ?? directory.appendingPathComponent("store")).appendingPathComponent("site.db").path)
            \(storeBlock)
            \(controlSite ?? "")
            specs: { require_release: \(requireRelease) }
            \(extraConfig)
            control: { socket: \(directory.appendingPathComponent("pocared.sock").path) }
            devices:
              - { id: rocker-1, profile: rocking-bag-rb50.yaml, address: "127.0.0.1:\(rocker)", poll_interval: \(pollInterval),
                  batch: { id: DUR-1, spec: \(specPath), phase: expansion } }
              - { id: str-1, profile: stirred-tank-str10.yaml, address: "127.0.0.1:\(tank)", poll_interval: \(pollInterval) }
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func startDaemon(extra: [String] = [], environment: [String: String] = [:]) throws -> RunningProcess {
        try RunningProcess("pocared", ["--config", configPath, "--print-commits", "--log-level", "notice"] + extra, environment: environment)
    }

    deinit {
        simulator.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// `COMMIT stream first last` lines printed by the daemon after each commit returned.
func committedRanges(_ lines: [String]) -> [CommittedRange] {
    lines.compactMap { line in
        let parts = line.split(separator: " ")
        guard parts.count == 4, parts[0] == "COMMIT", let first = Int64(parts[2]), let last = Int64(parts[3]) else { return nil }
        return CommittedRange(stream: String(parts[1]), first: first, last: last)
    }
}

/// Checks what must hold after any crash: a sound file, gap-free streams, every commit that
/// returned present, and an intact audit chain.
func expectStoreConsistent(_ path: String, committed: [CommittedRange], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let reader = try StoreReader(path: path)
    #expect(try reader.integrityCheck() == "ok", sourceLocation: sourceLocation)
    for stream in try reader.streams() {
        let seqs = try reader.sequenceNumbers(stream: stream.stream)
        let pruned = seqs.first.map { $0 - 1 } ?? 0
        #expect(seqs == Array((pruned + 1)...max(pruned + 1, stream.lastSeq)).filter { _ in !seqs.isEmpty },
                "\(stream.stream): gap-free up to \(stream.lastSeq)", sourceLocation: sourceLocation)
        #expect(seqs.last == stream.lastSeq || (seqs.isEmpty && stream.lastSeq == 0), sourceLocation: sourceLocation)
    }
    let last = Dictionary(try reader.streams().map { ($0.stream.description, $0.lastSeq) }, uniquingKeysWith: max)
    for range in committed {
        #expect((last[range.stream] ?? 0) >= range.last, "\(range) was committed and must be present", sourceLocation: sourceLocation)
    }
    let audit = try reader.verifyAudit()
    #expect(audit.isIntact, "\(audit.problems)", sourceLocation: sourceLocation)
}

@Suite("Store durability with the real daemon", .serialized)
struct StoreDurabilityTests {
    @Test("kill -9 at random moments, 20 times: nothing committed is lost, numbers continue, the chain verifies")
    func killNineRepeatedly() async throws {
        let fixture = try DaemonFixture()
        var committed: [CommittedRange] = []
        var generator = SystemRandomNumberGenerator()
        var previousLast: [String: Int64] = [:]
        for round in 1...20 {
            let daemon = try fixture.startDaemon()
            // Wait until the daemon is committing samples, then kill it at a random moment.
            _ = await daemon.waitForLine(upTo: .seconds(20)) { $0.hasPrefix("COMMIT") && $0.contains("/telemetry") }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...400, using: &generator)))
            daemon.kill9()
            let printed = committedRanges(daemon.output)
            #expect(!printed.isEmpty, "round \(round): the daemon committed something")
            committed += printed
            try expectStoreConsistent(fixture.storePath, committed: committed)

            // Numbers continue from where the last run stopped: never reused, never skipped.
            for range in printed where previousLast[range.stream] != nil && range == printed.first(where: { $0.stream == range.stream }) {
                #expect(range.first > previousLast[range.stream]!, "round \(round): \(range.stream) continues")
            }
            for stream in try StoreReader(path: fixture.storePath).streams() { previousLast[stream.stream.description] = stream.lastSeq }
        }
        let audit = try StoreReader(path: fixture.storePath).auditEntries()
        #expect(audit.filter { $0.action.action == "daemon.start" }.count == 20)
    }

    @Test("a full disk raises the store alarm; the daemon keeps running and loses nothing it committed",
          .enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func fullDisk() async throws {
        let tmpfs = SmallTmpfs(size: "1536k", name: "full")
        defer { tmpfs.remove() }
        let mountPoint = tmpfs.mountPoint
        let fixture = try DaemonFixture(
            pollInterval: "20ms",
            storeBlock: "  free_space_warning: 1MiB\n  free_space_limit: 256KiB\n  commit_interval: 50ms",
            storeDirectory: mountPoint)
        let storePath = mountPoint.appendingPathComponent("site.db").path
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }

        let spaceLow = await waitFor(upTo: .seconds(60)) { daemon.errors.contains { $0.contains("store space low") } }
        #expect(spaceLow, "the store alarm is raised: \(daemon.errors.suffix(5))")
        let full = await waitFor(upTo: .seconds(90)) { daemon.errors.contains { $0.contains("store commit failed") } }
        #expect(full, "the disk fills up: \(daemon.errors.suffix(5))")
        // It keeps polling and holding what it cannot commit, and answers operators meanwhile.
        func pendingRows() -> Int? {
            guard let answer = try? run("pocarectl", ["status", "--json", "--socket", fixture.socketPath]),
                  let status = try? JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any]
            else { return nil }
            return (status["store"] as? [String: Any])?["pending_rows"] as? Int
        }
        let pending = pendingRows() ?? 0
        #expect(await waitFor(upTo: .seconds(30)) { (pendingRows() ?? 0) > pending }, "samples keep arriving while nothing commits")
        #expect(daemon.isRunning, "the daemon keeps running on a full disk")
        let committed = committedRanges(daemon.output)
        daemon.kill9()
        try expectStoreConsistent(storePath, committed: committed)
        let events = try StoreReader(path: storePath).events(stream: StreamName.siteEvents, after: 0, limit: 100)
        #expect(events.contains { $0.kind == "store_space_low" }, "the alarm itself was stored")
    }
}

/// A small tmpfs of its own for a test: mounted now, unmounted and removed by `remove()`.
final class SmallTmpfs {
    let mountPoint: URL

    init(size: String, name: String) {
        mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-\(name)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        #expect(runStatus("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint.path]) == 0)
    }

    func remove() {
        _ = runStatus("/bin/umount", ["-l", mountPoint.path])
        try? FileManager.default.removeItem(at: mountPoint)
    }
}

func canMountTmpfs() -> Bool { geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount") }


