import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The directory holding the test bundle, where the package's executables are built.
func builtExecutable(_ name: String) -> String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name).path
}

/// A project executable started for a test (posix_spawn), its output going to a file.
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    let outputPath: String
    private var exited = false

    init(_ name: String, _ arguments: [String]) throws {
        outputPath = NSTemporaryDirectory() + "pocare-control-\(UUID().uuidString).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let path = name.hasPrefix("/") ? name : builtExecutable(name)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else { throw TestFailure("cannot start \(path): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool {
        guard !exited else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exited = true }
        return !exited
    }

    /// Kills without warning, as a power cut or the OOM killer would.
    func kill9() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exited = true
    }

    /// Asks it to stop (SIGTERM), then kills it if it has not within ten seconds.
    func stop() {
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

/// Runs a command to its end; returns its exit status and standard output (with `errors`, its
/// standard error follows in the same text).
func runCommand(_ name: String, _ arguments: [String], input: String? = nil, errors: Bool = false) throws -> (status: Int32, output: String) {
    let outputPath = NSTemporaryDirectory() + "pocare-command-\(UUID().uuidString)"
    defer { unlink(outputPath) }
    let inputPath = NSTemporaryDirectory() + "pocare-command-input-\(UUID().uuidString)"
    defer { unlink(inputPath) }
    try (input ?? "").write(toFile: inputPath, atomically: true, encoding: .utf8)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if errors {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    } else {
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    let path = name.hasPrefix("/") ? name : builtExecutable(name)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else { throw TestFailure("cannot start \(path)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exitStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
}
