import ControlSiteRecords
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster for one test: initdb into a temporary folder, started on a free
/// loopback port with its socket in that folder, stopped and removed when released. As root
/// it runs as the `postgres` user, since the server refuses to run as root.
public final class TestPostgres: Sendable {
    public let directory: URL
    public let port: Int

    public static var binaries: String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let newest = versions.compactMap(Int.init).max().map(String.init) ?? "15"
        return "/usr/lib/postgresql/\(newest)/bin"
    }

    public init() throws {
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pocare-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if geteuid() == 0 { try Self.run("/bin/chown", ["postgres", directory.path]) }
        try Self.runAsServerUser("\(Self.binaries)/initdb", [
            "-D", "\(directory.path)/data", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C",
        ])
        // A free port is free when chosen, not when the server binds it: a test starting beside
        // this one may take it meanwhile. The server is then started again on another port; a
        // failure that is not that names what the server logged.
        var started: Int?
        var failure: Error?
        for _ in 0..<3 where started == nil {
            let candidate = freeLoopbackPort()
            do {
                try Self.runAsServerUser("\(Self.binaries)/pg_ctl", [
                    "-D", "\(directory.path)/data", "-l", "\(directory.path)/server.log", "-w", "start",
                    "-o", "-p \(candidate) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
                ])
                started = candidate
            } catch {
                let log = (try? String(contentsOfFile: "\(directory.path)/server.log", encoding: .utf8)) ?? ""
                failure = TestFailure("\(error)\nserver log: \(log.suffix(2000))")
            }
        }
        guard let started else {
            try? FileManager.default.removeItem(at: directory)
            throw failure ?? TestFailure("the test cluster did not start")
        }
        port = started
    }

    /// The cluster's own `postgres` database, for a test that needs no database of its own.
    public var postgresConnectionInfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    /// A connection string for a fresh database of its own in this cluster.
    public func createDatabase(_ name: String = "pocare_control") throws -> String {
        let admin = try PostgresConnection("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")
        try admin.execute("CREATE DATABASE \(name)")
        return "host=127.0.0.1 port=\(port) user=postgres dbname=\(name)"
    }

    /// Stops the server at once, as a crash or a lost database host would look to a client.
    public func stopServer() throws {
        try Self.runAsServerUser("\(Self.binaries)/pg_ctl", ["-D", "\(directory.path)/data", "-m", "immediate", "-w", "stop"])
    }

    deinit {
        try? Self.runAsServerUser("\(Self.binaries)/pg_ctl", ["-D", "\(directory.path)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    private static func runAsServerUser(_ tool: String, _ arguments: [String]) throws {
        if geteuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        } else {
            try Self.run(tool, arguments)
        }
    }

    /// Runs a tool to its end; its output goes to a file, not a pipe (the server pg_ctl starts
    /// would hold a pipe open for good).
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "pocare-pg-tool-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        let status = waitForExit(try spawn(tool, arguments, output: outputPath))
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else { throw TestFailure("\(tool) \(arguments.joined(separator: " ")) failed: \(text)") }
        return text
    }
}
