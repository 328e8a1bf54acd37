import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real mosquitto broker on a free loopback port, with persistence, so that a stop and a start
/// keep the sessions and queued messages of persistent subscribers. `extraConfig` adds to (or,
/// with a `listener` line of its own, replaces) the plain anonymous listener: TLS, passwords, ACLs.
public final class TestBroker: Sendable {
    public let directory: URL
    public let port: Int
    private let extraConfig: String
    private let pid = Mutex<pid_t?>(nil)

    public init(extraConfig: String = "", port: Int? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.port = port ?? freeLoopbackPort()
        self.extraConfig = extraConfig
        try start()
    }

    public var url: String { "mqtt://127.0.0.1:\(port)" }

    public static var executablePath: String {
        ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "mosquitto"
    }

    public func start() throws {
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
            log_type all
            log_dest file \(directory.path)/broker.log
            """.write(to: config, atomically: true, encoding: .utf8)
        let started = try spawn(Self.executablePath, ["-c", config.path], output: directory.appendingPathComponent("broker.out").path)
        pid.withLock { $0 = started }
        // Ready when the port accepts connections.
        for _ in 0..<100 {
            if acceptsConnections(port: port) { return }
            usleep(50_000)
        }
        throw TestFailure("mosquitto did not listen on \(port): \(log)")
    }

    /// Stops the broker gracefully (SIGTERM: it saves its sessions and queued messages and
    /// exits), as an operator's restart would; SIGKILL only if it has not ended within 5 s.
    public func stop() {
        guard let running = pid.withLock({ $0 }) else { return }
        kill(running, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<100 {
            if waitpid(running, &status, WNOHANG) == running {
                pid.withLock { $0 = nil }
                return
            }
            usleep(50_000)
        }
        kill(running, SIGKILL)
        waitForExit(running)
        pid.withLock { $0 = nil }
    }

    /// Kills the broker without warning: what it had not yet saved is gone.
    public func kill9() {
        guard let running = pid.withLock({ $0 }) else { return }
        kill(running, SIGKILL)
        waitForExit(running)
        pid.withLock { $0 = nil }
    }

    public var isRunning: Bool { pid.withLock { $0 } != nil }

    public var log: String { (try? String(contentsOf: directory.appendingPathComponent("broker.log"), encoding: .utf8)) ?? "" }

    /// Publishes each payload at QoS 1 (one `mosquitto_pub -l` per run of one topic, a line per
    /// message); `arguments` adds to mosquitto_pub's (an identity: `-u`, `-P`, certificates).
    public func publish(_ messages: [(topic: String, payload: String)], retain: Bool = false, arguments: [String] = []) throws {
        var byTopic: [(String, [String])] = []
        for m in messages {
            if let i = byTopic.firstIndex(where: { $0.0 == m.topic }), i == byTopic.count - 1 {
                byTopic[i].1.append(m.payload)
            } else {
                byTopic.append((m.topic, [m.payload]))
            }
        }
        for (topic, payloads) in byTopic {
            let args = ["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-t", topic, "-l"] + (retain ? ["-r"] : []) + arguments
            let result = try runCommand("/usr/bin/mosquitto_pub", args, input: payloads.map { $0 + "\n" }.joined())
            guard result.status == 0 else { throw TestFailure("mosquitto_pub to \(topic) failed: \(result.output)") }
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
