import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Foundation
import POCareConfig
import POCareCore
import Testing
import TestSupport

@Suite("Site qualification over a real PostgreSQL", .serialized)
struct QualificationTests {
    /// Batch `n` of a site, ended: 60 samples a second apart from now plus `n` minutes (the
    /// stream's numbers continue from batch to batch) and the site's record of them, each
    /// batch's temperature a little off the target as real runs are.
    static func writeBatch(_ db: IngestDatabase, site: String, _ n: Int, spec: String, base: Double = 37.0) throws -> String {
        let offsets = [-0.06, 0.03, 0.0, 0.05, -0.02]
        let feed = SiteFeed(site: site, start: Date().addingTimeInterval(Double(n) * 60 + 5), chains: db.chains)
        let batch = "\(site)-B\(n)"
        let first = Int64(n * 60 + 1)
        try db.write(try feed.finishedBatch("rocker-1", first...(first + 59), batch: batch, spec: spec, eventSeq: Int64(n + 1),
                                          profile: "rocking-bag-rb50") { seq in
            ["temperature": base + offsets[n % offsets.count] + (seq % 2 == 0 ? 0.02 : -0.02), "ph": 7.2 + offsets[n % offsets.count] / 2]
        })
        try db.write([try feed.checkpoint()])
        return batch
    }

    /// QA (quinn) reviews the batch, then the QP (petra) certifies it, each against the record as it is.
    static func certify(_ db: IngestDatabase, site: String, _ batch: String) throws {
        let hash = try #require(try BatchRecordDigest.hash(site: site, batch: batch, on: db.connection))
        try BatchSignatures.sign(site: site, batch: batch, meaning: .reviewed, shownHash: hash, comment: "reviewed", userName: "quinn",
                                 password: IngestDatabase.qualityPassword, on: db.connection)
        try BatchSignatures.sign(site: site, batch: batch, meaning: .certified, shownHash: hash, comment: "certified", userName: "petra",
                                 password: IngestDatabase.qualityPassword, on: db.connection)
    }

    @Test("a reference site is in qualification until its third verification batch is certified; then qualified, then its check falls due")
    func referenceSite() throws {
        let db = try IngestDatabase(signing: ["site-a", "site-b"])
        let spec = try db.releaseExampleSpec()
        try db.registerSite("site-a", role: .reference)
        try db.registerEquipment("site-a", "rocker-1", profile: "rocking-bag-rb50")
        let settings = QualitySettings()
        var status = try #require(try Qualification.status(site: "site-a", settings: settings, on: db.connection))
        #expect(status.state == .inQualification && status.display.hasPrefix("in qualification (0 of 3 verification batches certified"))

        var batches: [String] = []
        for n in 0..<3 { batches.append(try Self.writeBatch(db, site: "site-a", n, spec: spec)) }
        #expect(try BatchSummary.list(db.connection, site: "site-a").allSatisfy { $0.purpose == "verification" })
        try Self.certify(db, site: "site-a", batches[0])
        try Self.certify(db, site: "site-a", batches[1])
        status = try #require(try Qualification.status(site: "site-a", settings: settings, on: db.connection))
        #expect(status.state == .inQualification && status.countedBatches == Array(batches.prefix(2)))
        #expect(status.display.contains("2 of 3"))
        try Self.certify(db, site: "site-a", batches[2])
        status = try #require(try Qualification.status(site: "site-a", settings: settings, on: db.connection))
        #expect(status.state == .qualified && status.check == "ok")
        let history = try MasterFile.qualificationHistory(site: "site-a", on: db.connection)
        #expect(history.map(\.state) == ["in_qualification", "qualified"])
        #expect(history.last?.changeId == nil && history.last?.evidence?.contains(batches[2]) == true)
        #expect(try ControlAuditTrail.entries(db.connection).contains { $0.action.action == "site.qualified" && $0.action.user == "petra" })

        // A batch started after qualification is production.
        let later = try Self.writeBatch(db, site: "site-a", 3, spec: spec)
        #expect(try BatchSummary.list(db.connection, site: "site-a").first { $0.batch == later }?.purpose == "production")

        // With a fixed clock: due in 25 days is "due soon"; a day past the year, the check is due.
        let soon = try #require(try Qualification.status(site: "site-a", settings: settings, at: Date().addingTimeInterval(340 * 86400), on: db.connection))
        #expect(soon.check == "due_soon" && soon.display.contains("comparability check due"))
        let overdue = try #require(try Qualification.status(site: "site-a", settings: settings, at: Date().addingTimeInterval(366 * 86400), on: db.connection))
        #expect(overdue.check == "overdue" && overdue.display.hasPrefix("check due"))
        var shorter = settings
        shorter.comparabilityIntervalDays = 30
        #expect(try Qualification.status(site: "site-a", settings: shorter, at: Date().addingTimeInterval(31 * 86400), on: db.connection)?.check == "overdue")
    }

    @Test("an additional site is qualified by its certified comparability batches and a comparison QA signs; a suspended site's batches are nonconforming")
    func additionalSite() throws {
        let db = try IngestDatabase(signing: ["site-a", "site-b"])
        let spec = try db.releaseExampleSpec()
        try db.registerSite("site-a", role: .reference, qualification: .qualified)
        try db.registerSite("site-b", role: .additional)
        try db.registerEquipment("site-a", "rocker-1", profile: "rocking-bag-rb50")
        try db.registerEquipment("site-b", "rocker-1", profile: "rocking-bag-rb50")
        // Enough batches for compare to judge the site (it judges none below 3).
        // The reference site's batches count for compare once a QP certified them.
        for n in 0..<5 { try Self.certify(db, site: "site-a", try Self.writeBatch(db, site: "site-a", n, spec: spec)) }
        var batches: [String] = []
        for n in 0..<5 { batches.append(try Self.writeBatch(db, site: "site-b", n, spec: spec)) }
        #expect(try BatchSummary.list(db.connection, site: "site-b").allSatisfy { $0.purpose == "comparability" })
        try Self.certify(db, site: "site-b", batches[0])
        // One certified batch, no comparison: still in qualification.
        #expect(try MasterFile.site("site-b", on: db.connection)?.qualification == .inQualification)

        var request = ComparisonRequest(spec: try exampleIPCSpec(), phase: "expansion", reference: "site-a")
        request.profiles = SpecLoader.profileCatalogue(directory: shippedProfiles)
        let report = try ComparisonReport.load(db.connection, request: request) { site, batch in
            try BatchRecordDigest.hash(site: site, batch: batch, on: db.connection)
        }
        let id = try StoredComparisons.store(report, by: "quinn", on: db.connection)
        let stored = try #require(try StoredComparisons.find(id, on: db.connection)).entry
        #expect(stored.verdicts["site-b"] == "comparable", "\(stored.verdicts) \(report.batches.map { "\($0.site)/\($0.batch): \($0.reasons)" })")
        #expect(try MasterFile.site("site-b", on: db.connection)?.qualification == .inQualification)
        let changed = #expect(throws: QualityRefusal.self) {
            try ComparisonSignatures.sign(report: id, shownHash: String(repeating: "1", count: 64), userName: "alex",
                                          password: IngestDatabase.qualityPassword, meaning: .approved, comment: "", on: db.connection)
        }
        #expect(changed?.kind == .recordChanged)
        _ = try ComparisonSignatures.sign(report: id, shownHash: stored.reportHash, userName: "alex", password: IngestDatabase.qualityPassword,
                                          meaning: .approved, comment: "site-b comparable", on: db.connection)
        let status = try #require(try Qualification.status(site: "site-b", settings: QualitySettings(), on: db.connection))
        #expect(status.state == .qualified && status.lastComparison?.id == id)
        // The stored comparisons show the check's due date the POC Master File computes, never one of their own.
        let list = try run("pocare-control", ["comparisons", "list", "--json", "--database", db.connectionInfo])
        let yearly = try #require((jsonValue(list.output) as? [String: Any])?["yearly_check"] as? [[String: Any]], "\(list.errors)")
        let due = try #require(yearly.first { $0["site"] as? String == "site-b" })
        #expect(status.checkDue != nil && due["due"] as? String == status.checkDue && due["check"] as? String == "ok")
        #expect(Set(try Comparisons.signed(site: "site-b", on: db.connection).first?.batches ?? []) == Set(batches))
        #expect(throws: PostgresError.self) { try db.connection.execute("UPDATE comparison_reports SET verdicts = '{}'") }

        // QA suspends the site by change control: a batch started afterwards is nonconforming.
        try db.approvedChange(.siteQualification(site: "site-b", state: .suspended), reason: "DEV-3 under investigation")
        let suspended = try Self.writeBatch(db, site: "site-b", 5, spec: spec)
        let found = try Nonconformance.load(db.connection).filter { $0.batch == suspended }
        #expect(found.contains { $0.category == "site" && $0.reason.contains("suspended") })
        #expect(try BatchSummary.list(db.connection, site: "site-b").first { $0.batch == suspended }?.purpose == "suspended site")
        #expect(try Qualification.status(site: "site-b", settings: QualitySettings(), on: db.connection)?.display.hasPrefix("suspended") == true)
    }
}

/// The example spec as the Control Site reads a released one.
func exampleIPCSpec() throws -> IPCSpec {
    let loaded = SpecLoader.load(path: exampleSpec, profiles: SpecLoader.profileCatalogue(directory: shippedProfiles))
    guard let spec = loaded.spec else { throw TestFailure("example spec: \(loaded.diagnostics)") }
    return spec
}
