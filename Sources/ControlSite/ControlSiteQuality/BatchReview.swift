import ControlSiteRecords
import Foundation
import POCareContract

/// Review by exception: every check a reviewer needs before signing a batch, each with what
/// it found linked to its evidence. "No exceptions" is said only when every check ran and found
/// nothing; a check that cannot run yet (the site's record has not arrived) is an exception in
/// itself, and a batch without monitored time is never clean.
public struct BatchReview: Sendable, Encodable {
    public struct Item: Sendable, Codable, Equatable {
        public var text: String
        /// The page (or anchor) that shows the evidence.
        public var link: String?
    }

    public struct Check: Sendable, Codable, Equatable {
        /// A stable name (`excursions`, `alarms`, …).
        public var name: String
        public var title: String
        /// False when the check could not run; `items` then says why.
        public var ran: Bool
        public var items: [Item]
        public var clean: Bool { ran && items.isEmpty }
    }

    public var record: BatchRecord
    /// SHA-256 of the record as it is now: what a signature is bound to.
    public var recordHash: String
    public var status: Disposition.Status
    public var deviations: [Deviations.Record]
    public var checks: [Check]
    /// Excursions as the site's record defines them (start, end, duration, worst, area, limit),
    /// or, while the record has not arrived, as the same rule finds them in the samples held here.
    public var excursions: [ExcursionRow]
    public var unmonitored: [UnmonitoredRow]
    public var specs: [SpecState]

    public var clean: Bool { checks.allSatisfy(\.clean) }
    public var exceptionCount: Int { checks.reduce(0) { $0 + ($1.ran ? $1.items.count : max(1, $1.items.count)) } }

    public struct ExcursionRow: Sendable, Codable, Equatable {
        public var device: String
        public var alarm: String
        public var phase: String
        public var start: String
        public var end: String
        public var durationS: Double
        public var worstValue: Double
        public var worstLevel: String
        public var side: String
        public var areaOutside: Double
        public var openAtBatchEnd: Bool
        /// `record` (the site's batch record) or `samples` (found by the same rule in the samples held here, before the record arrives).
        public var source: String
    }

    public struct UnmonitoredRow: Sendable, Codable, Equatable {
        public var device: String
        public var from: String
        public var to: String
        public var durationS: Double
        public var cause: String
    }

    /// A spec the batch ran, against the register: released before the batch started, retired
    /// during it, or not released.
    public struct SpecState: Sendable, Codable, Equatable {
        public var fingerprint: String
        public var document: String?
        public var version: String?
        /// `released`, `retired during the batch`, `retired before the batch`, `released after the batch started`, `not released`.
        public var state: String
        public var releaseChange: Int64?
        public var ok: Bool { state == "released" || state == "retired during the batch" }
    }

    /// - Parameters:
    ///   - specs: where the specs the batch ran are read (the register, or as a site published them).
    ///   - eventLimit, limits, labels, checkpoint: a page's bounds (`BatchRecord.load`).
    ///   - fresh: the record hash and everything read from the samples computed from the rows now, not what was kept
    ///     for the record's version (a signature binds that hash, and its gate decides on those checks).
    public static func load(
        site: String, batch: String, settings: QualitySettings = QualitySettings(), specs: SpecLookup = SpecLookup(profilesDirectory: nil),
        eventLimit: Int? = nil, limits: BatchSeriesReader.Limits = .init(), labels: LabelSeriesReader.Limits? = nil, fresh: Bool = false,
        checkpoint: () throws -> Void = {}, on connection: PostgresConnection
    ) throws -> BatchReview? {
        // Before reading what is here: an archived part is said at once, not after a long read.
        try BatchRecordDigest.refuseArchived(site: site, batch: batch, on: connection)
        guard let record = try BatchRecord.load(
            connection, site: site, batch: batch, specs: { try specs.ran($0, on: connection) }, eventLimit: eventLimit, limits: limits,
            labels: labels, fresh: fresh, checkpoint: checkpoint),
            let hash = try BatchRecordDigest.current(site: site, batch: batch, fresh: fresh, on: connection)
        else { return nil }
        let status = try Disposition.status(site: site, batch: batch, record: record, currentHash: hash, on: connection)
        let deviations = try Deviations.list(site: site, batch: batch, on: connection)
        let excursions = Self.excursions(record)
        let unmonitored = record.siteRecords.flatMap { c in
            (c.record?.unmonitored ?? []).map { UnmonitoredRow(device: c.device, from: $0.from, to: $0.to, durationS: $0.durationS, cause: $0.cause) }
        }
        let specs = try specStates(record, on: connection)
        var review = BatchReview(record: record, recordHash: hash, status: status, deviations: deviations, checks: [], excursions: excursions,
                                 unmonitored: unmonitored, specs: specs)
        review.checks = try BatchReviewChecks.all(review, settings: settings, on: connection)
        return review
    }

    /// The site's record's excursions where it has arrived; for a device whose record has not,
    /// the ones the Control Site finds in its samples by the same rule (`BatchStatistics`).
    static func excursions(_ record: BatchRecord) -> [ExcursionRow] {
        let fromRecords = record.siteRecords.flatMap { c in
            (c.record?.excursions ?? []).map { x in
                ExcursionRow(device: c.device, alarm: x.alarm, phase: x.phase, start: x.start, end: x.end, durationS: x.durationS,
                             worstValue: x.worstValue, worstLevel: x.worstLevel, side: x.side, areaOutside: x.areaOutside,
                             openAtBatchEnd: x.openAtBatchEnd, source: "record")
            }
        }
        let recorded = Set(record.siteRecords.compactMap { $0.record == nil ? nil : $0.device })
        let fromSamples = record.statistics.filter { !recorded.contains($0.device) }.flatMap { d in
            d.summary.excursions.map { x in
                ExcursionRow(device: d.device, alarm: "\(d.device)/\(x.parameter)/limit", phase: x.phase, start: iso(x.start), end: iso(x.end),
                             durationS: x.durationS, worstValue: x.worstValue, worstLevel: x.worstLevel, side: x.side?.rawValue ?? "-",
                             areaOutside: x.areaOutside, openAtBatchEnd: x.openAtBatchEnd, source: "samples")
            }
        }
        return (fromRecords + fromSamples).sorted { ($0.start, $0.alarm) < ($1.start, $1.alarm) }
    }

    static func iso(_ seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func device(of stream: String) -> String { String(stream.split(separator: "/").first ?? "") }

    static func specStates(_ record: BatchRecord, on connection: PostgresConnection) throws -> [SpecState] {
        let first = record.phases.map(\.first).min() ?? "", last = record.phases.map(\.last).max() ?? ""
        return try Array(Set(record.phases.compactMap(\.spec))).sorted().map { fp in
            let r = try connection.execute("""
                SELECT document, version, release_change,
                       CASE WHEN released > $2::timestamptz THEN 'released after the batch started'
                            WHEN retired IS NULL THEN 'released'
                            WHEN retired < $2::timestamptz THEN 'retired before the batch'
                            WHEN retired <= $3::timestamptz THEN 'retired during the batch'
                            ELSE 'released' END AS state
                FROM released_specs WHERE fingerprint = $1
                """, [fp, first, last])
            guard r.rowCount == 1 else { return SpecState(fingerprint: fp, state: "not released") }
            return SpecState(fingerprint: fp, document: r.string(0, "document"), version: r.string(0, "version"),
                             state: r.string(0, "state") ?? "not released", releaseChange: r.int(0, "release_change"))
        }
    }
}
