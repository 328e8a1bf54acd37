import Foundation
import Hashing
import Logging

/// What a running `pocare-control run` holds in the database so a second instance cannot take
/// the same part by mistake: its MQTT client id (two clients with one id push each other off
/// the broker, each taking over the other's persistent session), and with `ingest:` its shard
/// and its known sites (two instances that take the same site would both ask it for replays and
/// publish its registers). Session-level advisory locks on a connection held for the life of the
/// process: the server lets them go when the process ends, also on kill -9.
///
/// Checked at start: an instance whose database connection was cut and came back does not take
/// its locks again. Instances that share an MQTT 5 `shared_group` split the same sites on
/// purpose; for them only the client id is claimed.
public final class IngestClaim {
    public struct Taken: Error, CustomStringConvertible {
        public var part: String
        public var description: String {
            "another pocare-control run against this database already holds \(part); give each instance its own client_id and ingest share"
        }
    }

    private let connection: PostgresConnection
    /// What this instance holds, in words.
    public let parts: [String]

    private init(connection: PostgresConnection, parts: [String]) {
        self.connection = connection
        self.parts = parts
    }

    /// The parts an instance claims: always its client id; its shard and known sites when it has
    /// an `ingest:` section and no shared group.
    public static func parts(clientId: String, share: IngestShare, sharedGroup: String?) -> [String] {
        var parts = ["client id '\(clientId)'"]
        guard sharedGroup == nil else { return parts }
        if let shard = share.shard { parts.append("shard \(shard)") }
        parts += (share.known ?? []).sorted().map { "site '\($0)'" }
        return parts
    }

    /// Takes every part, waiting up to `patience` for an instance that is just stopping (its
    /// connection's end reaches the server a moment after the process's). Blocks (libpq).
    public static func take(database: String, clientId: String, share: IngestShare, sharedGroup: String?,
                            patience: Duration = .seconds(5), logger: Logger) throws -> IngestClaim {
        let connection = try PostgresConnection(database)
        let parts = parts(clientId: clientId, share: share, sharedGroup: sharedGroup)
        let deadline = ContinuousClock.now + patience
        var held = Set<String>()
        var logged = false
        while true {
            for part in parts where !held.contains(part) {
                let locked = try connection.execute("SELECT pg_try_advisory_lock($1::bigint) AS locked", [String(key(part))])
                if locked.bool(0, "locked") == true { held.insert(part) }
            }
            guard let missing = parts.first(where: { !held.contains($0) }) else { break }
            guard ContinuousClock.now < deadline else { throw Taken(part: missing) }
            if !logged {
                logger.warning("waiting for another instance to let go", metadata: ["part": "\(missing)"])
                logged = true
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return IngestClaim(connection: connection, parts: parts)
    }

    /// The advisory lock's key: the first 8 bytes of SHA-256 of the part, as a signed 64-bit number.
    static func key(_ part: String) -> Int64 {
        Int64(bitPattern: UInt64(SHA256.hex("pocare-control run: " + part).prefix(16), radix: 16)!)
    }
}
