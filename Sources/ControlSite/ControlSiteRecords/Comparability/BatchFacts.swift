import POCareContract
import Foundation
import POCareCore

/// What the Control Site knows about one device's part of one batch, one field per fact, as the
/// comparison's inclusion rules ask for them. Each fact comes from one place, named in
/// `BatchFactsQuery`, so a fact whose owner changes (the site's role moving to the POC Master
/// File, certification to the disposition records) changes there only.
public struct BatchFacts: Sendable, Codable, Equatable {
    public var site: String
    public var device: String
    public var batch: String
    public var spec: String
    public var first: String
    public var last: String
    /// The site recorded the batch's end.
    public var ended: Bool
    /// The site's batch record as published (the newest copy), nil when none has arrived.
    public var record: BatchReport?
    /// Where the record arrived, and its hash in the site's chain.
    public var recordStream: String?
    public var recordSeq: Int64?
    public var recordHash: String?
    /// Each way the record differs from the samples and events held here; empty when it agrees.
    public var recordDifferences: [String]
    /// The spec was in the register and not retired before the batch's last record.
    public var specReleased: Bool
    /// Why the batch is nonconforming (a conformance finding, an excursion beyond an action limit); empty when it is not.
    public var nonconformities: [String]
    /// Who certified the batch, when a certification stands on the record as it is now.
    public var certifiedBy: String?
    /// `reference` or `additional`.
    public var siteRole: String
    public var startingMaterial: String?
    /// The archived months (`YYYY-MM`) its samples reach into: it is not compared on what is left.
    public var archivedMonths: [String] = []

    public var certified: Bool { certifiedBy != nil }
    /// The equipment model (device profile) the record names.
    public var profile: String? { record?.equipment.profile }
}

/// Reads `BatchFacts` for every batch that ran a spec. Where each fact comes from today:
/// - ended, record, its verification: the site's `batch_ended` and `batch_record` events
///   (`SiteBatchRecordCheck`);
/// - spec released: the released-spec register;
/// - nonconforming: the conformance findings, and excursions beyond an action limit in the record;
/// - certified: a QP's certification (after QA's review), not withdrawn, whose record hash is the record's hash now;
/// - site role: the POC Master File's (`master_sites`) for a site registered there, else the
///   reference site named by the caller (`ComparisonReport.load` refuses a named reference the
///   Master File contradicts);
/// - starting material: the record (named at `pocarectl batch start --starting-material`).
public struct BatchFactsQuery {
    public static let roleSource = "the reference site named for this comparison"
    public static let masterFileRoleSource = "the POC Master File's site roles (the reference site named for this comparison where a site is not registered)"
    public static let certificationSource = "a QP's certification (after QA's review, not withdrawn) of the batch record as it is now"

    public var connection: PostgresConnection
    public var reference: String
    /// The batch record's hash now, to check a signature against (`BatchRecordDigest`).
    public var currentRecordHash: (String, String) throws -> String?
    /// The spec of a fingerprint, for the limits each site record is verified with (time in range, excursions).
    public var specs: (String) throws -> IPCSpec? = { _ in nil }
    /// Checks each site record against the rows whatever was kept for the record's version.
    public var freshChecks = false

    public init(connection: PostgresConnection, reference: String, currentRecordHash: @escaping (String, String) throws -> String?) {
        self.connection = connection
        self.reference = reference
        self.currentRecordHash = currentRecordHash
    }

    /// Every device's part of every batch that ran `spec` (from `since` on, seconds since 1970),
    /// at most `limit` of them, newest first cut.
    public func load(spec: String, since: Double?, limit: Int = 2_000) throws -> [BatchFacts] {
        let runs = try connection.execute("""
            SELECT r.site, r.device, r.batch, \(SQLTime.iso("min(r.first_time)")) AS first, \(SQLTime.iso("max(r.last_time)")) AS last,
                   EXISTS (SELECT 1 FROM events e WHERE e.site = r.site AND e.device = r.device AND e.batch = r.batch
                                                  AND e.kind = 'batch_ended') AS ended,
                   bool_and(rs.fingerprint IS NOT NULL AND (rs.retired IS NULL OR rs.retired >= r.last_time)) AS released
            FROM batch_runs r LEFT JOIN released_specs rs ON rs.fingerprint = r.spec
            WHERE r.spec = $1
            GROUP BY r.site, r.device, r.batch
            HAVING $2::float8 IS NULL OR min(r.first_time) >= to_timestamp($2::float8)
            ORDER BY min(r.first_time) DESC LIMIT $3
            """, [spec, since.map { String($0) }, String(limit)])
        let nonconformances = try Nonconformance.load(connection)
        let roles = try Self.masterFileRoles(connection)
        var checks: [String: [SiteBatchRecordCheck]] = [:]
        var facts: [BatchFacts] = []
        for r in 0..<runs.rowCount {
            let site = runs.string(r, "site") ?? "", device = runs.string(r, "device") ?? "", batch = runs.string(r, "batch") ?? ""
            let key = "\(site)\u{1}\(batch)"
            // Kept per version of the batch's record: a batch of weeks is not read again for every comparison.
            if checks[key] == nil {
                checks[key] = try KeptSiteRecordChecks.current(site: site, batch: batch, specs: specs, fresh: freshChecks, on: connection)
            }
            let check = checks[key]!.first { $0.device == device }
            var f = BatchFacts(
                site: site, device: device, batch: batch, spec: spec, first: runs.string(r, "first") ?? "", last: runs.string(r, "last") ?? "",
                ended: runs.bool(r, "ended") ?? false, record: check?.record, recordStream: check?.stream, recordSeq: check?.seq, recordHash: nil,
                recordDifferences: check?.differences ?? [], specReleased: runs.bool(r, "released") ?? false, nonconformities: [],
                certifiedBy: nil, siteRole: roles[site] ?? (site == reference ? "reference" : "additional"), startingMaterial: check?.record?.startingMaterial)
            if let check {
                f.recordHash = try connection.execute(
                    "SELECT hash FROM events WHERE site = $1 AND stream = $2 AND seq = $3 ORDER BY time DESC LIMIT 1",
                    [site, check.stream, String(check.seq)]).string(0, "hash")
            }
            f.nonconformities = nonconformances.filter { $0.site == site && $0.device == device && $0.batch == batch }.map(\.reason)
            for e in check?.record?.excursions ?? [] where e.worstLevel == "action" {
                f.nonconformities.append("excursion beyond an action limit: \(e.alarm) in \(e.phase) from \(e.start), worst \(e.worstValue)")
            }
            f.archivedMonths = try SampleArchive.archivedMonths(site: site, batch: batch, on: connection).map(\.month)
            // An archived record's hash cannot be recomputed, so its certification cannot be checked.
            f.certifiedBy = f.archivedMonths.isEmpty ? try certification(site: site, batch: batch) : nil
            facts.append(f)
        }
        return facts.sorted { ($0.site, $0.first, $0.batch, $0.device) < ($1.site, $1.first, $1.batch, $1.device) }
    }

    /// Each site's role in the POC Master File (`reference` or `additional`), for the sites registered there.
    public static func masterFileRoles(_ connection: PostgresConnection) throws -> [String: String] {
        let rows = try connection.execute("SELECT site, role FROM master_sites")
        var roles: [String: String] = [:]
        for r in 0..<rows.rowCount { if let site = rows.string(r, "site") { roles[site] = rows.string(r, "role") } }
        return roles
    }

    /// The QP who certified the batch, when that signature still matches the record and no
    /// rejection was signed after it.
    func certification(site: String, batch: String) throws -> String? {
        let rows = try connection.execute("""
            SELECT meaning, full_name, record_hash, \(SQLTime.iso("signed")) AS signed
            FROM batch_signatures WHERE site = $1 AND batch = $2 AND meaning IN ('certified', 'rejected') AND withdrawn IS NULL
            ORDER BY signed DESC, id DESC LIMIT 1
            """, [site, batch])
        guard rows.rowCount == 1, rows.string(0, "meaning") == "certified" else { return nil }
        guard let hash = try currentRecordHash(site, batch), hash == rows.string(0, "record_hash") else { return nil }
        return "\(rows.string(0, "full_name") ?? "") on \(rows.string(0, "signed") ?? "")"
    }
}
