import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A project executable started for a test (posix_spawn), its output going to a file.
public final class SpawnedProcess: Sendable {
    public let pid: pid_t
    public let outputPath: String
    /// Its exit status once it has ended (128 + the signal when a signal ended it).
    private let ended = Mutex<Int32?>(nil)

    public init(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        outputPath = NSTemporaryDirectory() + "pocare-process-\(UUID().uuidString).log"
        pid = try spawn(executable(name).path, arguments, output: outputPath, environment: environment)
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    public var isRunning: Bool {
        ended.withLock { ended in
            guard ended == nil else { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { ended = decodedExitStatus(status) }
            return ended == nil
        }
    }

    /// How it ended; nil while it runs.
    public var exitStatus: Int32? {
        _ = isRunning
        return ended.withLock { $0 }
    }

    /// Sends SIGTERM, as systemd's stop does.
    public func terminate() { if isRunning { kill(pid, SIGTERM) } }

    /// Kills without warning, as a power cut or the OOM killer would.
    public func kill9() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        let status = waitForExit(pid)
        ended.withLock { $0 = status }
    }

    /// Asks it to stop (SIGTERM), then kills it if it has not within ten seconds.
    public func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        for _ in 0..<200 where isRunning { usleep(50_000) }
        kill9()
    }

    deinit {
        stop()
        unlink(outputPath)
    }
}
