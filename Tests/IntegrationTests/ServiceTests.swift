import Foundation
import POCareCore
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Running under systemd: notify protocol, watchdog, shutdown", .serialized)
struct ServiceTests {
    @Test("READY after start, WATCHDOG while healthy, none while the store writer is stalled, STOPPING on SIGTERM")
    func notifyAndWatchdog() async throws {
        let notify = try NotifySocket()
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { notify.count("READY=1") == 1 })
        #expect(await waitFor(upTo: .seconds(10)) { notify.count("WATCHDOG=1") >= 3 }, "pings every half interval")

        // Stall the writer: another process holds the store's write lock.
        // `.timeout` makes sqlite3 wait for a commit in progress instead of failing to take the lock.
        let locker = try RunningProcess(
            "/usr/bin/sqlite3", [fixture.storePath, "-cmd", ".timeout 10000", "-cmd", "BEGIN IMMEDIATE;", "-cmd", "SELECT 'locked';"])
        let stalled = await waitFor(upTo: .seconds(30)) { notify.all.last?.contains("store NOT committing") == true }
        #expect(stalled, "\(notify.all.suffix(2))")
        let pingsWhileStalled = notify.count("WATCHDOG=1")
        #expect(await notify.waitForRounds(4))
        #expect(notify.count("WATCHDOG=1") == pingsWhileStalled, "no pings while the writer cannot commit")
        locker.kill9()
        #expect(await waitFor(upTo: .seconds(30)) { notify.count("WATCHDOG=1") > pingsWhileStalled }, "pings resume")

        daemon.stop()
        #expect(notify.count("STOPPING=1") == 1)
        #expect(!daemon.isRunning)
    }

    @Test("SIGTERM during heavy polling: every polled sample is committed and the daemon exits")
    func sigtermCommitsEverything() async throws {
        let fixture = try DaemonFixture(pollInterval: "10ms")
        let daemon = try fixture.startDaemon(extra: ["--print-values"])
        _ = await waitFor(upTo: .seconds(20)) { daemon.output.filter { $0.contains(" str-1 ") }.count > 200 }
        daemon.stop()
        #expect(!daemon.isRunning)
        #expect(daemon.errors.contains { $0.contains("stopped") }, "a clean stop, not a kill")
        let printed = daemon.output.filter { !$0.hasPrefix("COMMIT") && !$0.contains(" EVENT ") }
        let reader = try StoreReader(path: fixture.storePath)
        for device in ["rocker-1", "str-1"] {
            let polled = printed.filter { $0.split(separator: " ").dropFirst().first == Substring(device) }.count
            let stored = try reader.sequenceNumbers(stream: .telemetry(device: device)).count
            #expect(polled > 100 && stored == polled, "\(device): \(polled) polled, \(stored) stored")
        }
        #expect(try reader.verifyAudit().isIntact)
        #expect(try reader.auditEntries().last?.action.action == "daemon.stop")
    }
}

@Suite("Reloading the configuration on SIGHUP", .serialized)
struct ReloadTests {
    func reload(_ daemon: RunningProcess) { kill(daemon.pid, SIGHUP) }

    @Test("a valid configuration is applied without a lost sample and audited; an invalid one is refused and polling goes on")
    func reloadGoodThenBad() async throws {
        let fixture = try DaemonFixture(pollInterval: "50ms")
        let daemon = try fixture.startDaemon(extra: ["--print-values"])
        defer { daemon.stop() }
        _ = await waitFor(upTo: .seconds(20)) { daemon.output.filter { $0.contains(" rocker-1 ") }.count > 20 }

        // A good change: str-1 leaves, polling of rocker-1 slows down.
        let original = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        let changed = original.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("id: str-1") }.joined(separator: "\n")
            .replacingOccurrences(of: "poll_interval: 50ms", with: "poll_interval: 100ms")
        try changed.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        reload(daemon)
        #expect(await waitFor(upTo: .seconds(20)) { daemon.errors.contains { $0.contains("configuration reloaded") } })
        let afterGood = daemon.output.filter { $0.contains(" rocker-1 ") }.count
        _ = await waitFor(upTo: .seconds(10)) { daemon.output.filter { $0.contains(" rocker-1 ") }.count > afterGood + 10 }

        // A bad change: refused, the running configuration keeps polling.
        try (changed + "\n  - { id: broken, profile: nowhere.yaml, address: nope }\n").write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        reload(daemon)
        #expect(await waitFor(upTo: .seconds(20)) { daemon.errors.contains { $0.contains("configuration reload refused") } })
        #expect(daemon.errors.contains { $0.contains("reload refused") && $0.contains("devices[") })
        let afterBad = daemon.output.filter { $0.contains(" rocker-1 ") }.count
        #expect(await waitFor(upTo: .seconds(10)) { daemon.output.filter { $0.contains(" rocker-1 ") }.count > afterBad + 5 }, "still polling")
        daemon.stop()

        // Every polled sample of rocker-1 was stored, with no cycle lost around either reload.
        let reader = try StoreReader(path: fixture.storePath)
        let printed = daemon.output.filter { $0.split(separator: " ").dropFirst().first == "rocker-1" && !$0.contains(" EVENT ") }
        let stored = try reader.samples(stream: .telemetry(device: "rocker-1"), after: 0, limit: 100_000)
        #expect(stored.count == printed.count, "\(printed.count) polled, \(stored.count) stored")
        let gaps = zip(stored, stored.dropFirst()).map { $1.time.timeIntervalSince($0.time) }
        #expect((gaps.max() ?? 0) < 0.5, "the longest pause between two samples: \(gaps.max() ?? 0) s")
        let audit = try reader.auditEntries().map(\.action)
        let applied = try #require(audit.first { $0.action == "config.reload" })
        #expect(applied.oldValue?.contains("devices=rocker-1,str-1") == true && applied.newValue?.contains("devices=rocker-1 ") == true)
        #expect(applied.oldValue?.contains("config=sha256:") == true && applied.oldValue != applied.newValue)
        let refused = try #require(audit.first { $0.action == "config.reload.refused" })
        #expect(refused.reason?.contains("devices[") == true)
        #expect(try reader.verifyAudit().isIntact)
    }
}
