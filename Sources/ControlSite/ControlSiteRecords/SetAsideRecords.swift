/// Records and messages the Control Site did not take as a site's (table `records_set_aside`):
/// records whose content does not hash to the hash they carry, statuses the site's key did not
/// sign, messages under a site that is not registered, checkpoints that do not verify. Kept as
/// they arrived, for QA to see.
public struct SetAsideRecord: Sendable, Codable, Equatable {
    public var received: String
    public var reason: String
    public var site: String
    public var epoch: String
    public var stream: String
    public var seq: Int64?
    public var detail: String
    public var record: String

    /// The newest first, of one site and one reason when given.
    public static func list(_ connection: PostgresConnection, site: String? = nil, reason: String? = nil,
                            limit: Int = 200) throws -> [SetAsideRecord] {
        let r = try connection.execute("""
            SELECT \(SQLTime.iso("received")) AS received, reason, site, epoch, stream, seq, detail, record
            FROM records_set_aside
            WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR reason = $2)
            ORDER BY received DESC, id DESC LIMIT $3::bigint
            """, [site, reason, String(limit)])
        return (0..<r.rowCount).map { i in
            SetAsideRecord(
                received: r.string(i, "received") ?? "", reason: r.string(i, "reason") ?? "", site: r.string(i, "site") ?? "",
                epoch: r.string(i, "epoch") ?? "", stream: r.string(i, "stream") ?? "", seq: r.int(i, "seq"),
                detail: r.string(i, "detail") ?? "", record: r.string(i, "record") ?? "")
        }
    }
}
