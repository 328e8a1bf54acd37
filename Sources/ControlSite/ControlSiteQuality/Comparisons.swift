import ControlSiteRecords
import Foundation

/// The signed comparisons qualification rests on, read from the stored comparison reports and
/// QA's signatures of them (`StoredComparisons`, tables `comparison_reports` and
/// `comparison_signatures`): a comparison counts for a site when QA approved it with a signature
/// that still matches the report, and the report's verdict for the site is `comparable`.
public enum Comparisons {
    public struct Summary: Sendable, Codable, Equatable {
        public var id: Int64
        public var reference: String { "comparison \(id)" }
        public var site: String
        public var referenceSite: String
        public var spec: String
        public var phase: String
        /// `qualification` or `yearly`.
        public var purpose: String
        /// The site's batches the report included.
        public var batches: [String]
        /// The report's verdict for the site (`comparable`, `not comparable`, `not judged`).
        public var outcome: String
        public var signed: String?
        public var signedBy: String?
        public var signedFullName: String?
    }

    /// Comparisons QA approved in which `site` was judged, newest approval first.
    public static func signed(site: String, on connection: PostgresConnection) throws -> [Summary] {
        try summaries(on: connection).filter { $0.site == site }
    }

    /// The newest approved comparison the site took part in, judged or as the reference (with
    /// `comparableOnly`, the newest that found a site comparable).
    public static func lastSigned(site: String, comparableOnly: Bool = false, on connection: PostgresConnection) throws -> Summary? {
        try summaries(on: connection).first { ($0.site == site || $0.referenceSite == site) && (!comparableOnly || $0.outcome == "comparable") }
    }

    /// Every approved, intact comparison, one summary per judged site, newest approval first.
    static func summaries(on connection: PostgresConnection) throws -> [Summary] {
        var out: [Summary] = []
        for entry in try StoredComparisons.list(on: connection, limit: 1000) where entry.intact {
            guard let approval = entry.signatures.filter({ $0.valid && $0.meaning == "approved" }).max(by: { $0.signed < $1.signed }) else { continue }
            let report = try StoredComparisons.find(entry.id, on: connection)?.report
            for (site, verdict) in entry.verdicts.sorted(by: { $0.key < $1.key }) where site != entry.reference {
                out.append(Summary(
                    id: entry.id, site: site, referenceSite: entry.reference, spec: entry.spec, phase: entry.phase, purpose: entry.kind,
                    batches: (report?.batches ?? []).filter { $0.site == site }.map(\.batch), outcome: verdict, signed: approval.signed,
                    signedBy: approval.userName, signedFullName: approval.fullName))
            }
        }
        return out.sorted { ($0.signed ?? "") > ($1.signed ?? "") }
    }
}
