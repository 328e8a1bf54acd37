import Foundation
import POCareContract

/// Messages ingest refuses: not the contract's (malformed, beyond its limits), or under a site
/// that is not registered. Anyone who can publish to the broker can send them, so they say
/// nothing about the site their topic names: they are kept here, apart from every site's
/// findings, once per claimed site and topic with how often and the latest reason, and the
/// table stays small whatever a sender floods it with.
public struct RefusedMessage: Sendable, Codable, Equatable {
    public var claimedSite: String
    public var topic: String
    public var reason: String
    public var bytes: Int64
    public var excerpt: String
    public var firstSeen: String
    public var lastSeen: String
    public var occurrences: Int64

    /// Rows kept at most; past it, further topics of a claimed site count on one row (`…/*`).
    static let rowLimit = 10_000

    static func record(_ failure: ContractMessage.Failure, bytes: Int, excerpt: String, on connection: PostgresConnection) throws {
        let (site, topic, reason): (String, String, String) = switch failure {
        case .unknownTopic(let topic): ("", topic, "not a topic of the contract")
        case .malformed(let site, let topic, let reason): (site ?? "", topic, reason)
        }
        let full = try connection.execute("SELECT count(*) >= $1::bigint AS at_limit FROM refused_messages", [String(rowLimit)])
            .bool(0, "at_limit") ?? false
        try connection.execute("""
            INSERT INTO refused_messages (claimed_site, topic, reason, bytes, excerpt) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (claimed_site, topic) DO UPDATE SET reason = excluded.reason, bytes = excluded.bytes, excerpt = excluded.excerpt,
                last_seen = now(), occurrences = refused_messages.occurrences + 1
            """, [String(site.prefix(200)), full ? "\(site.prefix(200))/*" : String(topic.prefix(400)), String(reason.prefix(400)),
                  String(bytes), String(excerpt.prefix(200))])
    }

    /// The newest first.
    public static func list(_ connection: PostgresConnection, limit: Int = 200) throws -> [RefusedMessage] {
        let r = try connection.execute("""
            SELECT claimed_site, topic, reason, bytes, excerpt, \(SQLTime.iso("first_seen")) AS first_seen_utc,
                   \(SQLTime.iso("last_seen")) AS last_seen_utc, occurrences
            FROM refused_messages ORDER BY last_seen DESC, id DESC LIMIT $1::bigint
            """, [String(limit)])
        return r.map { row in
            RefusedMessage(
                claimedSite: row.string("claimed_site") ?? "", topic: row.string("topic") ?? "", reason: row.string("reason") ?? "",
                bytes: row.int("bytes") ?? 0, excerpt: row.string("excerpt") ?? "", firstSeen: row.string("first_seen_utc") ?? "",
                lastSeen: row.string("last_seen_utc") ?? "", occurrences: row.int("occurrences") ?? 0)
        }
    }
}
