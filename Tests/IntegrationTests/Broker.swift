import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real mosquitto broker on a free loopback port, with persistence so that a stop and a
/// start keep the sessions and queued messages of persistent subscribers.
final class Broker {
    let directory: URL
    let port: Int
    private var process: Process?
    private let extraConfig: String

    init(extraConfig: String = "", port: Int? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.port = port ?? freeLoopbackPort()
        self.extraConfig = extraConfig
        try start()
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    static var executable: String {
        ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "mosquitto"
    }

    func start() throws {
        let config = directory.appendingPathComponent("mosquitto.conf")
        let listener = extraConfig.contains("listener ") ? "" : "listener \(port) 127.0.0.1\nallow_anonymous true\n"
        // As root, mosquitto would switch to its own user and then fail to write the
        // persistence files and read the test's keys in this folder.
        let user = geteuid() == 0 ? "user root\n" : ""
        try """
            \(user)\(listener)\(extraConfig)
            persistence true
            autosave_interval 1
            persistence_location \(directory.path)/
            max_queued_messages 0
            max_inflight_messages 0
            log_dest file \(directory.path)/broker.log
            """.write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["-c", config.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Ready when the port accepts connections.
        for _ in 0..<100 {
            if canConnect() { return }
            usleep(50_000)
        }
        throw BrokerError(message: "mosquitto did not listen on \(port): \(log)")
    }

    /// Stops the broker. SIGTERM first; the test runner blocks signals and children inherit
    /// that, so after a second it is SIGKILL, and the once-a-second autosave is what persists.
    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<20 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    var log: String { (try? String(contentsOf: directory.appendingPathComponent("broker.log"), encoding: .utf8)) ?? "" }

    private func canConnect() -> Bool {
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

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct BrokerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Parses the JSON payload lines `pocarectl subscribe --json` printed.
func payloads(_ lines: [String]) -> [[String: Any]] {
    lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// Sequence numbers received per stream, from telemetry (`seq_first...seq_last`) and single messages (`seq`).
func receivedNumbers(_ messages: [[String: Any]]) -> [String: [Int64]] {
    var result: [String: [Int64]] = [:]
    for m in messages {
        guard let stream = m["stream"] as? String else { continue }
        if let samples = m["samples"] as? [[String: Any]] {
            result[stream, default: []] += samples.compactMap { ($0["seq"] as? NSNumber)?.int64Value }
        } else if let seq = (m["seq"] as? NSNumber)?.int64Value {
            result[stream, default: []].append(seq)
        }
    }
    return result
}
