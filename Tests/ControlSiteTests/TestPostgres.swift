import ControlSiteRecords
import POCareContract
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster for one test: initdb into a temporary folder, started on a free
/// loopback port with its socket in that folder, stopped and removed when released. As root
/// it runs as the `postgres` user, since the server refuses to run as root.
final class TestPostgres: @unchecked Sendable {
    let directory: URL
    let port: Int

    static var binaries: String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let newest = versions.compactMap(Int.init).max().map(String.init) ?? "15"
        return "/usr/lib/postgresql/\(newest)/bin"
    }

    init() throws {
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pocare-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        if geteuid() == 0 { try Self.run("/bin/chown", ["postgres", directory.path]) }
        try runAsServerUser("\(Self.binaries)/initdb", [
            "-D", "\(directory.path)/data", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C",
        ])
        try runAsServerUser("\(Self.binaries)/pg_ctl", [
            "-D", "\(directory.path)/data", "-l", "\(directory.path)/server.log", "-w", "start",
            "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
        ])
    }

    /// A connection string for a fresh database of its own in this cluster.
    func createDatabase(_ name: String = "pocare_control") throws -> String {
        let admin = try PostgresConnection("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")
        try admin.execute("CREATE DATABASE \(name)")
        return "host=127.0.0.1 port=\(port) user=postgres dbname=\(name)"
    }

    /// Stops the server at once, as a crash or a lost database host would look to a client.
    func stopServer() throws {
        try runAsServerUser("\(Self.binaries)/pg_ctl", ["-D", "\(directory.path)/data", "-m", "immediate", "-w", "stop"])
    }

    deinit {
        try? runAsServerUser("\(Self.binaries)/pg_ctl", ["-D", "\(directory.path)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    private func runAsServerUser(_ tool: String, _ arguments: [String]) throws {
        if geteuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        } else {
            try Self.run(tool, arguments)
        }
    }

    /// Runs a tool to its end with posix_spawn and waitpid. Output goes to a file, not a pipe
    /// (the server pg_ctl starts would hold a pipe open forever), and the wait is a plain waitpid.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "pocare-pg-tool-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard rc == 0 else { throw TestFailure("cannot start \(tool): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestFailure("\(tool) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
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

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
func waitFor(upTo limit: Duration, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try condition()
}
