import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A project executable started for a test, with its output collected line by line.
/// Stopped with SIGINT (then SIGKILL) when the test ends.
final class RunningProcess: Sendable {
    private let process: Process
    private let input = Pipe()
    private let lines = LineBuffer()
    private let errorLines = LineBuffer()

    init(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = executable(name)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.currentDirectoryURL = packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        // Standard input stays open (and empty) for as long as the process runs.
        process.standardInput = input
        self.process = process
        Self.collect(out.fileHandleForReading, into: lines)
        Self.collect(err.fileHandleForReading, into: errorLines)
        try process.run()
    }

    private static func collect(_ handle: FileHandle, into store: LineBuffer) {
        let thread = Thread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    store.append(line)
                }
            }
        }
        thread.start()
    }

    var output: [String] { lines.all }
    var errors: [String] { errorLines.all }

    /// Waits until some output line satisfies `condition`; gives up after `limit`.
    func waitForLine(upTo limit: Duration = .seconds(60), where condition: (String) -> Bool) async -> String? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let line = output.first(where: condition) { return line }
            if !process.isRunning { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return output.first(where: condition)
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }
    /// The exit code once the process has ended.
    var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Kills without warning, as a power cut or an OOM killer would, and waits until it is gone.
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Give the reader threads a moment to take the last lines out of the pipe.
        usleep(50_000)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

final class LineBuffer: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A TCP port on the loopback interface that nothing listens on right now.
func freeLoopbackPort() -> Int {
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
