import POCareContract
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Testing
import TestSupport

@Suite("Deviations over a real PostgreSQL", .serialized)
struct DeviationTests {
    let feed = SiteFeed(site: "site-a", start: Date().addingTimeInterval(5))

    func excursion(_ seq: Int64, start: Int, batch: String = "A-1") -> SiteFeed.Message {
        let at = SiteFeed(site: "site-a", start: feed.start.addingTimeInterval(Double(start)))
        let startText = Contract.format(feed.start.addingTimeInterval(Double(start)))
        let endText = Contract.format(feed.start.addingTimeInterval(Double(start + 10)))
        return at.event("rocker-1", seq: seq, kind: "excursion", batch: batch, phase: "expansion", body: """
            {"kind":"excursion","alarm":"rocker-1/temperature/limit","excursion":{"alarm":"rocker-1/temperature/limit","batch":"\(batch)",\
            "phase":"expansion","spec":"x","start":"\(startText)","end":"\(endText)","duration_s":10,"worst_value":38.6,\
            "worst_level":"action","side":"high","area_outside":4.2}}
            """)
    }

    @Test("while one instance scans, another instance's scan opens nothing and waits for nothing; the next scan opens the deviation once")
    func oneScannerAtATime() throws {
        let db = try IngestDatabase()
        let spec = try db.releaseExampleSpec()
        try db.write([feed.telemetry("rocker-1", 1...30, batch: "A-1", phase: "expansion", spec: spec), excursion(1, start: 5)])
        // Another instance's scan holds the lock (its own connection, inside its transaction).
        let other = try PostgresConnection(db.connectionInfo)
        try other.execute("BEGIN")
        try other.execute("SELECT pg_advisory_xact_lock(7146354)")
        #expect(try DeviationScanner.scan(settings: QualitySettings(), on: db.connection).isEmpty)
        #expect(try db.count("SELECT count(*) FROM deviations") == 0)
        try other.execute("COMMIT")
        #expect(try DeviationScanner.scan(settings: QualitySettings(), on: db.connection).count == 1)
        #expect(try DeviationScanner.scan(settings: QualitySettings(), on: db.connection).isEmpty)
    }

    @Test("an excursion during a batch opens one deviation that gathers its kind; QA classifies, investigates and closes it with a signature")
    func excursionToSignedClose() throws {
        let db = try IngestDatabase()
        let spec = try db.releaseExampleSpec()
        try db.write([feed.telemetry("rocker-1", 1...30, batch: "A-1", phase: "expansion", spec: spec), excursion(1, start: 5)])
        let opened = try DeviationScanner.scan(settings: QualitySettings(), on: db.connection)
        #expect(opened.count == 1)
        // Scanning again opens nothing: the evidence belongs to its deviation.
        #expect(try DeviationScanner.scan(settings: QualitySettings(), on: db.connection).isEmpty)
        let id = try #require(opened.first)
        var d = try #require(try Deviations.find(id, on: db.connection))
        #expect(d.source == "excursion" && d.state == "open" && d.batches == ["A-1"] && d.evidence.count == 1)
        #expect(d.evidence.first?.detail.contains("worst value 38.6") == true && d.evidence.first?.link == "/batches/site-a/A-1")
        #expect(try Deviations.list(batch: "A-1", on: db.connection).map(\.id) == [id])

        // A second excursion of the same alarm in the batch joins it, as a new version.
        try db.write([excursion(2, start: 20)])
        #expect(try DeviationScanner.scan(settings: QualitySettings(), on: db.connection).isEmpty)
        d = try #require(try Deviations.find(id, on: db.connection))
        #expect(d.evidence.count == 2 && d.version == 2)

        func close(version: Int64, user: String = "quinn", password: String = IngestDatabase.qualityPassword) throws {
            try Deviations.close(id, comment: "probe replaced", shownVersion: version, userName: user, password: password, on: db.connection)
        }
        let unclassified = #expect(throws: QualityRefusal.self) { try close(version: d.version) }
        #expect(unclassified?.kind == .stateConflict)
        let viewer = #expect(throws: QualityRefusal.self) { try Deviations.classify(id, as: .major, by: try db.user("vera"), on: db.connection) }
        #expect(viewer?.kind == .notPermitted)
        d = try Deviations.classify(id, as: .major, by: try db.user("quinn"), on: db.connection)
        #expect(d.state == "under_investigation" && d.classification == "major")
        let uninvestigated = #expect(throws: QualityRefusal.self) { try close(version: d.version) }
        #expect(uninvestigated?.kind == .stateConflict)
        d = try Deviations.update(id, investigation: "heater relay stuck", rootCause: "worn relay", capa: nil, by: try db.user("quinn"), on: db.connection)
        let noCapa = #expect(throws: QualityRefusal.self) { try close(version: d.version) }
        #expect(noCapa?.message.contains("CAPA") == true)
        d = try Deviations.update(id, investigation: nil, rootCause: nil, capa: "CAPA-12", by: try db.user("quinn"), on: db.connection)
        let stale = #expect(throws: QualityRefusal.self) { try close(version: d.version - 1) }
        #expect(stale?.kind == .recordChanged)
        let wrong = #expect(throws: QualityRefusal.self) { try close(version: d.version, password: "guess") }
        #expect(wrong?.kind == .notAuthenticated)
        try close(version: d.version)
        d = try #require(try Deviations.find(id, on: db.connection))
        #expect(d.state == "closed" && d.closedBy == "quinn" && d.closedFullName == "Quinn Assurance" && d.closedHash?.count == 64)

        // Closed means closed: no change through the system nor around it.
        let after = #expect(throws: QualityRefusal.self) {
            try Deviations.update(id, investigation: "more", rootCause: nil, capa: nil, by: try db.user("quinn"), on: db.connection)
        }
        #expect(after?.kind == .stateConflict)
        #expect(throws: PostgresError.self) { try db.connection.execute("UPDATE deviations SET root_cause = 'none' WHERE id = $1", [String(id)]) }
        #expect(throws: PostgresError.self) { try db.connection.execute("DELETE FROM deviation_evidence") }

        // A later excursion of the same alarm and batch opens a new deviation.
        try db.write([excursion(3, start: 25)])
        let next = try DeviationScanner.scan(settings: QualitySettings(), on: db.connection)
        #expect(next.count == 1 && next.first != id)

        let history = try ControlAuditTrail.entries(target: "DEV-\(id)", on: db.connection).map(\.action.action)
        #expect(history.first == "deviation.open" && history.contains("deviation.classify") && history.contains("deviation.update"))
        // Refusals are on record too, the update tried after closing among them.
        #expect(history.contains("deviation.close.refused") && history.suffix(2) == ["deviation.close", "deviation.update.refused"], "\(history)")
        #expect(history.contains("deviation.evidence"), "\(history)")
    }

    @Test("an operator action a site let through outside its personnel register opens one deviation per person")
    func untrainedOperator() throws {
        let db = try IngestDatabase()
        try db.registerSite("site-a", role: .reference)
        for seq in 1...2 {
            try db.connection.execute("""
                INSERT INTO audit_entries (site, epoch, stream, seq, time, user_name, action, target, record)
                VALUES ('site-a', 'e1', 'audit', $1, now(), 'mallory', 'personnel.exception', 'batchStart', jsonb_build_object('reason', $2::text))
                """, [String(seq), "'mallory' is not in the personnel register (version 2); allowed by personnel.allow_unregistered"])
        }
        let opened = try DeviationScanner.scan(settings: QualitySettings(), on: db.connection)
        #expect(opened.count == 1)
        #expect(try db.scalar("SELECT source FROM deviations") == "untrained_operator")
        #expect(try db.count("SELECT count(*) FROM deviation_evidence") == 2)
        #expect(try DeviationScanner.scan(settings: QualitySettings(), on: db.connection).isEmpty)
    }

    @Test("unregistered equipment at a registered site is a nonconformance on the site and every batch it runs, and opens a deviation")
    func unregisteredEquipment() throws {
        let db = try IngestDatabase()
        let spec = try db.releaseExampleSpec()
        try db.registerSite("site-a", role: .reference, qualification: .qualified)
        try db.registerEquipment("site-a", "rocker-1", profile: "rocking-bag-rb50")
        // The batches start after the registration.
        let feed = SiteFeed(site: "site-a", start: Date().addingTimeInterval(5))
        try db.write([
            try feed.metadata("rocker-1", profile: "rocking-bag-rb50"), try feed.metadata("str-9", profile: "stirred-tank-str10"),
            feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil),
                                  .init(id: "str-9", profile: "stirred-tank-str10", batch: "A-9", phase: "expansion", spec: spec)]),
            feed.telemetry("str-9", 1...10, batch: "A-9", phase: "expansion", spec: spec),
            feed.telemetry("rocker-1", 1...10, batch: "A-1", phase: "expansion", spec: spec),
        ])
        let found = try Nonconformance.load(db.connection).filter { $0.category == "equipment" }
        #expect(found.contains { $0.device == "str-9" && $0.batch == nil && $0.reason.contains("not registered in the POC Master File") })
        #expect(found.contains { $0.device == "str-9" && $0.batch == "A-9" })
        #expect(!found.contains { $0.device == "rocker-1" }, "\(found)")
        #expect(try BatchRecord.load(db.connection, site: "site-a", batch: "A-9", specs: { try SpecLookup(profilesDirectory: shippedProfiles).ran($0, on: db.connection) })?.nonconformances.contains { $0.category == "equipment" } == true)
        let opened = try DeviationScanner.scan(settings: QualitySettings(), on: db.connection)
        let deviations = try opened.compactMap { try Deviations.find($0, on: db.connection) }
        let equipment = try #require(deviations.first { $0.source == "unregistered_equipment" })
        #expect(equipment.title.contains("str-9") && equipment.batches == ["A-9"])
        let columns = try SiteQualityColumns.load(settings: QualitySettings(), on: db.connection)
        #expect(columns["site-a"]?.nonconformances ?? 0 >= 2 && columns["site-a"]?.openDeviations == deviations.count)

        // A device whose metadata names another profile fingerprint than the registered one.
        var altered = try feed.metadata("rocker-1", profile: "rocking-bag-rb50")
        altered.payload = altered.payload.replacingOccurrences(of: ",\"fingerprint\":\"sha256:", with: ",\"fingerprint\":\"sha256:0")
        try db.write([altered])
        #expect(try Nonconformance.load(db.connection).contains { $0.device == "rocker-1" && $0.reason.contains("registered with") })
    }
}
