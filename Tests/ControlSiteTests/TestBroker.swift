import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real mosquitto broker on a free loopback port, persistent, so that a stop and a start
/// keep the sessions and queued messages of persistent subscribers.
final class TestBroker: @unchecked Sendable {
    let directory: URL
    let port: Int
    private var process: Process?

    init() throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pocare-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        try start()
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    func start() throws {
        let config = directory.appendingPathComponent("mosquitto.conf")
        // As root, mosquitto would switch to its own user and then fail to write its persistence files here.
        let user = geteuid() == 0 ? "user root\n" : ""
        try """
            \(user)listener \(port) 127.0.0.1
            allow_anonymous true
            persistence true
            autosave_interval 1
            persistence_location \(directory.path)/
            max_queued_messages 0
            max_inflight_messages 0
            log_type all
            log_dest file \(directory.path)/broker.log
            """.write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath:
            ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "mosquitto")
        process.arguments = ["-c", config.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if canConnect() { return }
            usleep(50_000)
        }
        throw TestFailure("mosquitto did not listen on \(port)")
    }

    /// Stops the broker; the once-a-second autosave is what persists when SIGTERM is not heard.
    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<20 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    var log: String { (try? String(contentsOf: directory.appendingPathComponent("broker.log"), encoding: .utf8)) ?? "" }

    /// Publishes each payload at QoS 1 (one `mosquitto_pub -l` per topic, a line per message).
    func publish(_ messages: [(topic: String, payload: String)], retain: Bool = false) throws {
        var byTopic: [(String, [String])] = []
        for m in messages {
            if let i = byTopic.firstIndex(where: { $0.0 == m.topic }), i == byTopic.count - 1 {
                byTopic[i].1.append(m.payload)
            } else {
                byTopic.append((m.topic, [m.payload]))
            }
        }
        for (topic, payloads) in byTopic {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
            process.arguments = ["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-t", topic, "-l"] + (retain ? ["-r"] : [])
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            input.fileHandleForWriting.write(Data(payloads.map { $0 + "\n" }.joined().utf8))
            try input.fileHandleForWriting.close()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestFailure("mosquitto_pub to \(topic) failed") }
        }
    }

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
