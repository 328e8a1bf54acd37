import ControlSiteRecords
import Hashing
import POCareContract
import ControlSiteLink
import ControlSiteWeb
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

/// A Control Site with data for the web pages' tests: a real PostgreSQL, the example spec
/// released, batches from two sites written through the real ingest (one with an excursion,
/// alarm events and a hole in its records), users of each role, and the web server on a free
/// loopback port.
final class WebFixture: @unchecked Sendable {
    let db: IngestDatabase
    let spec: String
    let port: Int
    let settings: WebSettings
    private var server: Task<Void, Error>?
    static let password = "correct horse battery"

    /// The reviewed batch: rocker-1 at site-a, activation then expansion.
    static let site = "site-a", batch = "A-1"
    /// A batch ready for its disposition: str-1 at site-a, ended, its site record received and
    /// agreeing, nothing amiss.
    static let endedBatch = "A-7"

    /// `alsoKnown`: sites the Control Site's register names besides site-a, site-b and site-c.
    init(alsoKnown: [String] = [], configure: (inout WebSettings) -> Void = { _ in }) async throws {
        // initdb, the release command and the password hashes block: they run on a thread of their own,
        // so the cooperative pool stays free for the server this fixture starts.
        let (db, spec) = try await onOwnThread { () throws -> (IngestDatabase, String) in
            // site-a signs its chains with a registered key (a QP certifies only what it signed).
            let db = try IngestDatabase(signing: [Self.site], named: ["site-b", "site-c"] + alsoKnown)
            // Users of each role (two QA reviewers, so a change has a second person to approve it).
            try db.addQualityUsers()
            let fingerprint = try db.releaseExampleSpec()
            try Self.writeBatches(db, spec: fingerprint)
            try Self.writeEndedBatch(db, spec: fingerprint)
            return (db, fingerprint)
        }
        self.db = db
        self.spec = spec
        var settings = WebSettings()
        settings.port = freeLoopbackPort()
        settings.profiles = shippedProfiles
        // Pages are read on request here; a test of the preparer's rounds turns them on.
        settings.prepareIntervalSeconds = nil
        configure(&settings)
        self.settings = settings
        port = settings.port
        let server = ControlSiteWebServer(settings: settings, connectionInfo: db.connectionInfo, logger: Logger(label: "test.web"))
        let listening = Mutex(false)
        self.server = Task { try await server.run { _ in listening.withLock { $0 = true } } }
        // Generous: other suites' blocking tests may hold the cooperative pool the server starts on.
        guard await waitFor(upTo: .seconds(120), { listening.withLock { $0 } }) else { throw TestFailure("the web server did not start") }
    }

    deinit { server?.cancel() }

    func client() -> WebClient { WebClient(port: port) }

    /// Samples 1...180 of rocker-1, one a second: activation to 60, expansion after; temperature
    /// beyond its action limit from 100 to 110; no records from 130 to 149. Alarm events raised,
    /// acknowledged and cleared around the excursion. Two more batches at site-a and three at
    /// site-b for comparability.
    /// site-a in the POC Master File (the qualified reference site) with str-1 registered, and
    /// then batch A-7 on str-1: a minute of samples in range and the site's record of them.
    static func writeEndedBatch(_ db: IngestDatabase, spec: String) throws {
        try db.registerSite(site, role: .reference, qualification: .qualified)
        try db.registerEquipment(site, "str-1", profile: "stirred-tank-str10")
        // The devices of the certified reference batches; rocker-1 (batch A-1) stays unregistered.
        for device in ["rocker-2", "rocker-3", "rocker-4"] { try db.registerEquipment(site, device, profile: "rocking-bag-rb50") }
        let feed = SiteFeed(site: site, start: Date().addingTimeInterval(2), chains: db.chains)
        try db.write(try feed.finishedBatch("str-1", 1...60, batch: endedBatch, spec: spec, eventSeq: 1) { seq in
            ["temperature": 37.0 + (seq % 2 == 0 ? 0.05 : -0.05), "ph": 7.2 + (seq % 3 == 0 ? 0.01 : 0)]
        })
        try db.write([try feed.checkpoint()])
    }

    static func writeBatches(_ db: IngestDatabase, spec: String) throws {
        let feed = SiteFeed(site: site)
        func temperature(_ seq: Int64) -> Double { (100...110).contains(seq) ? 38.6 : 37.0 + (seq % 2 == 0 ? 0.05 : -0.05) }
        try db.write([
            feed.telemetry("rocker-1", 1...60, batch: batch, phase: "activation", spec: spec) { ["temperature": temperature($0), "ph": 7.2] },
            feed.telemetry("rocker-1", 61...129, batch: batch, phase: "expansion", spec: spec) { ["temperature": temperature($0), "ph": 7.21] },
            feed.telemetry("rocker-1", 150...180, batch: batch, phase: "expansion", spec: spec) { ["temperature": temperature($0), "ph": 7.19] },
        ])
        // Events 1, 2, 3 of the stream, at 101, 104 and 111 s.
        func at(_ second: Double) -> SiteFeed { SiteFeed(site: site, start: feed.start.addingTimeInterval(second)) }
        let alarm = "\"alarm\":\"rocker-1/temperature/limit\",\"priority\":\"high\",\"level\":\"action\""
        try db.write([
            at(100).event("rocker-1", seq: 1, kind: "raised", batch: batch, phase: "expansion", spec: spec,
                          body: "{\(alarm),\"value\":38.6,\"state\":\"active_unacknowledged\"}"),
            at(102).event("rocker-1", seq: 2, kind: "acknowledged", batch: batch, phase: "expansion", spec: spec,
                          body: "{\(alarm),\"user\":\"operator-7\",\"reason\":\"heater checked\",\"state\":\"active_acknowledged\"}"),
            at(108).event("rocker-1", seq: 3, kind: "cleared", batch: batch, phase: "expansion", spec: spec,
                          body: "{\(alarm),\"value\":37.0,\"state\":\"normal\"}"),
        ])
        // site-a online with rocker-1 in the batch's expansion phase and a pH alarm standing; site-b gone (last will).
        try db.write([
            try feed.metadata("rocker-1", profile: "rocking-bag-rb50"),
            SiteFeed(site: site, chains: db.chains).status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: batch,
                                                                        phase: "expansion", spec: spec, reachable: true)]),
            at(107).event("rocker-1", seq: 4, kind: "excursion", batch: batch, phase: "expansion", spec: spec, body: """
                {\(alarm),"excursion":{"alarm":"rocker-1/temperature/limit","batch":"\(batch)","phase":"expansion","spec":"\(spec)",\
                "start":"\(Contract.format(feed.start.addingTimeInterval(100)))","end":"\(Contract.format(feed.start.addingTimeInterval(111)))",\
                "duration_s":11,"worst_value":38.6,"worst_level":"action","side":"high","area_outside":13.2}}
                """),
            at(169).event("rocker-1", seq: 5, kind: "raised", batch: batch, phase: "expansion", spec: spec,
                          body: "{\"alarm\":\"rocker-1/ph/limit\",\"priority\":\"medium\",\"level\":\"alert\",\"value\":7.45,\"state\":\"active_unacknowledged\"}"),
            SiteFeed(site: "site-b").lastWill(),
        ])
        // Ended batches with the sites' records: three certified at site-a (the reference), three at site-b.
        let offsets = [-0.04, 0.02, 0.03]
        for (site, base) in [("site-a", 37.0), ("site-b", 37.02)] {
            for n in 0..<3 {
                var b = RecordedBatch(site: site, device: "rocker-\(n + 2)", batch: "\(site == "site-a" ? "AR" : "B")-\(n + 1)") { seq in
                    ["temperature": base + offsets[n] + (seq % 2 == 0 ? 0.02 : -0.02), "ph": 7.2]
                }
                b.profile = "rocking-bag-rb50"
                b.samples = 180
                try b.write(to: db, spec: spec)
                if site == "site-a" { try db.certify(site: site, batch: b.batch) }
            }
        }
    }
}

/// Runs blocking work on a thread of its own and awaits its result.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Every suite that starts a web server, one after another: each brings its own PostgreSQL
/// cluster, server and (for the browser) Chromium, which is enough load for two cores at a time.
@Suite("The Control Site's web pages", .serialized)
enum WebSuites {}
