import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the repository is: tests read the shipped profiles, specs, docs and scripts from it.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The project's executables are built next to the test bundle.
public func executable(_ name: String) -> URL {
    if name.hasPrefix("/") { return URL(fileURLWithPath: name) }
    return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name)
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Starts a program with posix_spawn: standard input from `input`, output to `output` and
/// errors to `errors` (default: the same file; files, never pipes: a server it starts could hold
/// a pipe open for good), and the
/// signal mask and dispositions reset, so the child hears SIGTERM and SIGINT even though the
/// test runner blocks them (children would otherwise inherit that and ignore a graceful stop).
public func spawn(_ path: String, _ arguments: [String], input: String = "/dev/null", output: String, errors: String? = nil,
                  environment: [String: String] = [:]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if let errors {
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    } else {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw TestFailure("cannot start \(path): \(String(cString: strerror(rc)))") }
    return pid
}

/// Waits for a child to end; its exit status (128 + the signal when a signal ended it).
@discardableResult
public func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return decodedExitStatus(status)
}

func decodedExitStatus(_ status: Int32) -> Int32 { (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }

/// Runs a command to its end; its exit status and its standard output (its errors are dropped,
/// or with `errors` follow in the same text).
public func runCommand(_ name: String, _ arguments: [String], input: String? = nil, errors: Bool = false) throws -> (status: Int32, output: String) {
    let outputPath = NSTemporaryDirectory() + "pocare-command-\(UUID().uuidString)"
    defer { unlink(outputPath) }
    var inputPath = "/dev/null"
    if let input {
        inputPath = NSTemporaryDirectory() + "pocare-command-input-\(UUID().uuidString)"
        try input.write(toFile: inputPath, atomically: true, encoding: .utf8)
    }
    defer { if input != nil { unlink(inputPath) } }
    let pid = try spawn(executable(name).path, arguments, input: inputPath, output: outputPath, errors: errors ? nil : "/dev/null")
    let status = waitForExit(pid)
    return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
}

/// What a command printed, standard output and standard error apart.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var output: String
    public var errors: String
}

/// Runs a project executable (or a path) to its end from the repository's folder, with `input`
/// on its standard input.
public func run(_ name: String, _ arguments: [String], input: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable(name)
    process.arguments = arguments
    process.currentDirectoryURL = packageRoot
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
        errors: String(decoding: errors, as: UTF8.self))
}

/// A TCP port on the loopback interface that nothing listens on right now.
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            _ = bind(fd, pointer, length)
            return getsockname(fd, pointer, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on the loopback port.
public func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held. Tests wait for
/// what they expect rather than sleeping a fixed time.
public func waitFor(upTo limit: Duration, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try condition()
}

/// Runs a tool to its end for its exit status alone (-1 when it cannot be started).
@discardableResult
public func runStatus(_ path: String, _ arguments: [String]) -> Int32 {
    (try? runCommand(path, arguments))?.status ?? -1
}
