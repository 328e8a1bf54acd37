import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A project executable started for a test, with its output collected line by line.
/// Stopped with SIGINT (then SIGKILL) when the test ends.
public final class RunningProcess: Sendable {
    private let process: Process
    private let input = Pipe()
    private let lines = LineBuffer()
    private let errorLines = LineBuffer()

    public init(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
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

    public var output: [String] { lines.all }
    public var errors: [String] { errorLines.all }

    /// Waits until some output line satisfies `condition`; gives up after `limit`.
    public func waitForLine(upTo limit: Duration = .seconds(60), where condition: (String) -> Bool) async -> String? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let line = output.first(where: condition) { return line }
            if !process.isRunning { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return output.first(where: condition)
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }
    /// The exit code once the process has ended.
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Kills without warning, as a power cut or an OOM killer would, and waits until it is gone.
    public func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Give the reader threads a moment to take the last lines out of the pipe.
        usleep(50_000)
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

public final class LineBuffer: Sendable {
    private let lines = Mutex<[String]>([])
    public init() {}
    public func append(_ line: String) { lines.withLock { $0.append(line) } }
    public var all: [String] { lines.withLock { $0 } }
}
