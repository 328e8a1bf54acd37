import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareContract
import TestSupport

/// Batches at site-a (in the POC Master File, qualified) in every situation a disposition must
/// refuse, each on a device of its own, written through the real ingest.
enum DispositionScenarios {
    static let site = "site-a"
    /// Still running: samples, no site record.
    static let running = "R-RUN"
    /// The site's record claims samples the Control Site never received.
    static let differs = "R-DIFF"
    /// An open deviation is linked to it.
    static let deviation = "R-DEV"
    /// Ran on a device not registered in the POC Master File.
    static let nonconforming = "R-NC"
    /// A gap in its telemetry: an open integrity finding.
    static let gap = "R-GAP"
    /// Its record has unmonitored time (a pause in its samples), not covered by a closed deviation.
    static let unmonitored = "R-UNMON"
    /// Nothing amiss (two of them).
    static let clean = "R-OK", clean2 = "R-OK2"
    /// Nothing amiss but that no checkpoint the site signed covers its records.
    static let unsigned = "R-UNSIGNED"

    static func prepare(_ db: IngestDatabase, spec: String) throws {
        if try MasterFile.site(site, on: db.connection) == nil { try db.registerSite(site, role: .reference, qualification: .qualified) }
        for device in ["str-2", "str-3", "str-4", "str-5", "str-6", "str-7", "str-8", "str-10"] {
            try db.registerEquipment(site, device, profile: "stirred-tank-str10")
        }
        // The site's records as its store chains them; the database's register knows its key.
        let feed = SiteFeed(site: site, start: Date().addingTimeInterval(2), chains: db.chains)
        try db.write([feed.telemetry("str-2", 1...30, batch: running, phase: "expansion", spec: spec)])
        var claims = try feed.finishedBatch("str-3", 1...60, batch: differs, spec: spec, eventSeq: 1)
        claims[0] = feed.telemetry("str-3", 1...50, batch: differs, phase: "expansion", spec: spec)
        try db.write(claims)
        try db.write(try feed.finishedBatch("str-4", 1...60, batch: deviation, spec: spec, eventSeq: 1))
        try Deviations.open(site: site, batches: [deviation], title: "Bag leak suspected", description: "operator report", by: try db.user("quinn"),
                            on: db.connection)
        try db.write(try feed.finishedBatch("str-9", 1...60, batch: nonconforming, spec: spec, eventSeq: 1))
        // Its messages are cut and resent as no store chains them: they carry no hashes.
        let unchained = SiteFeed(site: site, start: feed.start)
        var holed = try unchained.finishedBatch("str-5", 1...51, batch: gap, spec: spec, eventSeq: 1)
        holed[0] = unchained.telemetry("str-5", 1...30, batch: gap, phase: "expansion", spec: spec)
        let later = SiteFeed(site: site, start: feed.start.addingTimeInterval(-9))
        try db.write(holed + [later.telemetry("str-5", 40...60, batch: gap, phase: "expansion", spec: spec)])
        // Samples 21... come 8 s late: the site's record and the Control Site both count the pause past the hold limit as unmonitored.
        try db.write(try feed.finishedBatch("str-6", 1...60, batch: unmonitored, spec: spec, eventSeq: 1, pause: (after: 20, seconds: 8)))
        try db.write(try feed.finishedBatch("str-7", 1...60, batch: clean, spec: spec, eventSeq: 1))
        try db.write(try feed.finishedBatch("str-8", 1...60, batch: clean2, spec: spec, eventSeq: 1))
        // The site signs its chains' heads at each batch end; the last batch ends after that.
        try db.write([try feed.checkpoint()])
        try db.write(try feed.finishedBatch("str-10", 1...60, batch: unsigned, spec: spec, eventSeq: 1))
    }

    static func hash(_ db: IngestDatabase, _ batch: String) throws -> String {
        guard let hash = try BatchRecordDigest.hash(site: site, batch: batch, on: db.connection) else { throw TestFailure("no batch \(batch)") }
        return hash
    }
}
