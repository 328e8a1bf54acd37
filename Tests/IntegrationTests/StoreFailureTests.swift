import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon does when its store is taken away, made read-only or fills up: it says so,
/// it never pretends, and it always stops when told to.
@Suite("The store failing under the daemon", .serialized)
struct StoreFailureTests {
    @Test("a store file deleted while running raises the store alarm, stops the watchdog, and the next start records the loss")
    func deletedWhileRunning() async throws {
        let notify = try NotifySocket()
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try fixture.startDaemon(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        #expect(await waitFor(upTo: .seconds(20)) { notify.count("WATCHDOG=1") >= 2 })
        let firstEpoch = try StoreReader(path: fixture.storePath).epoch()

        try FileManager.default.removeItem(atPath: fixture.storePath)
        #expect(await waitFor(upTo: .seconds(10)) { daemon.errors.contains { $0.contains("deleted while open") } },
                "a critical line names the loss: \(daemon.errors.suffix(3))")
        #expect(await waitFor(upTo: .seconds(10)) { notify.all.contains { $0.contains("store LOST") } }, "STATUS says so")
        let status = try run("pocarectl", ["status", "--socket", fixture.socketPath])
        #expect(status.output.contains("STORE LOST") && status.output.contains("epoch \(firstEpoch)"), "\(status.output)")
        let pings = notify.count("WATCHDOG=1")
        #expect(await notify.waitForRounds(4))
        #expect(notify.count("WATCHDOG=1") == pings, "the watchdog is no longer fed, so systemd restarts the daemon")
        daemon.stop()

        // The restart finds the folder's record of a store but no store.
        let restarted = try fixture.startDaemon()
        defer { restarted.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { ((try? StoreReader(path: fixture.storePath).auditEntries()) ?? []).count >= 2 })
        let reader = try StoreReader(path: fixture.storePath)
        let first = try #require(try reader.auditEntries().first)
        #expect(first.action.action == "store.lost")
        #expect(first.action.oldValue == "epoch=\(firstEpoch)")
        #expect(try reader.epoch() != firstEpoch, "a new store has a new epoch")
        #expect(restarted.errors.contains { $0.contains("no store was found") })
    }

    @Test("a store that cannot be written is a refusal to start, naming the reason",
          .enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func readOnlyStoreRefused() async throws {
        let tmpfs = SmallTmpfs(size: "8m", name: "ro")
        defer { tmpfs.remove() }
        let mountPoint = tmpfs.mountPoint
        let fixture = try DaemonFixture(pollInterval: "100ms", storeDirectory: mountPoint)
        let first = try fixture.startDaemon()
        #expect(await first.waitForLine(upTo: .seconds(20)) { $0.hasPrefix("COMMIT") } != nil)
        first.stop()
        #expect(runStatus("/bin/mount", ["-o", "remount,ro", mountPoint.path]) == 0)

        let second = try fixture.startDaemon()
        defer { second.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { !second.isRunning }, "it exits instead of running half")
        #expect(second.exitStatus == 1)
        #expect(second.errors.contains { $0.contains("cannot be written") || $0.contains("read-only") }, "\(second.errors.suffix(3))")
    }

    @Test("SIGTERM ends the daemon within the stop timeout on a full disk, counting what could not be committed",
          .enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func boundedShutdownOnFullDisk() async throws {
        let tmpfs = SmallTmpfs(size: "1536k", name: "stop")
        defer { tmpfs.remove() }
        let mountPoint = tmpfs.mountPoint
        let fixture = try DaemonFixture(
            pollInterval: "20ms", storeBlock: "  free_space_warning: 1MiB\n  free_space_limit: 256KiB\n  commit_interval: 50ms",
            storeDirectory: mountPoint)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(90)) { daemon.errors.contains { $0.contains("store commit failed") } })
        kill(daemon.pid, SIGTERM)
        // systemd's TimeoutStopSec for pocared is 10 s.
        #expect(await waitFor(upTo: .seconds(10)) { !daemon.isRunning }, "SIGTERM ends it")
        #expect(daemon.errors.contains { $0.contains("could not be committed") }, "\(daemon.errors.suffix(4))")
    }

    @Test("the store and its companions are not readable by others, whatever the umask")
    func fileModes() async throws {
        let fixture = try DaemonFixture(pollInterval: "100ms")
        let daemon = try RunningProcess("/bin/sh", [
            "-c", "umask 000; exec \(executable("pocared").path) --config \(fixture.configPath) --print-commits",
        ])
        defer { daemon.stop() }
        #expect(await daemon.waitForLine(upTo: .seconds(20)) { $0.hasPrefix("COMMIT") } != nil)
        for path in [fixture.storePath, fixture.storePath + "-wal", fixture.storePath + ".identity"] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode & 0o007 == 0, "\(path) is \(String(mode, radix: 8))")
        }
    }
}
