import ControlSiteRecords
import Foundation
import Logging
import POCareContract
import Testing
import TestSupport

/// A batch zoomed in: one device's samples within a window, read from the records themselves,
/// where the batch's page draws minute rollups (a running batch of weeks) or thinned values.
@Suite("A batch zoomed in on a window of its samples", .serialized)
struct BatchWindowPageTests {
    static let batchPath = "/batches/\(WebFixture.site)/\(WebFixture.batch)"

    /// The window page of rocker-1 from the fixture's sample `from` to sample `to` (sample n is taken at start + n s).
    static func window(from: Int, to: Int, device: String = "rocker-1", batch: String = WebFixture.batch) -> String {
        let start = SiteFeed(site: WebFixture.site).start
        func at(_ n: Int) -> String { Contract.format(start.addingTimeInterval(Double(n))) }
        return "/batches/\(WebFixture.site)/\(batch)/window?device=\(device)&from=\(at(from))&to=\(at(to))"
    }

    @Test("a window shows every sample in it with its phase's figures; the page of a running batch drawn from its rollups offers it")
    func everySampleOfTheWindow() async throws {
        // A-1 on rocker-1: samples 1...129 and 150...180, temperature 38.6 from 100 to 110, else 36.95 and 37.05 in turn.
        let fixture = try await WebFixture { $0.pageRunningMaxSamples = 50 }
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)

        let running = try await web.get(Self.batchPath)
        #expect(running.status == 200 && running.body.contains("minute rollups"))
        #expect(running.body.contains("action=\"\(Self.batchPath)/window\"") && running.body.contains("Show every sample"))

        let excursion = "<tr><td>expansion</td><td>21</td><td>36.95</td><td>38.6</td>"
        let asRows = try await web.get(Self.window(from: 95, to: 115))
        #expect(asRows.status == 200, "\(asRows.body.prefix(600))")
        #expect(asRows.body.contains("<strong>21 samples</strong>") && asRows.body.contains(excursion), "\(asRows.body)")
        #expect(asRows.body.contains("data-window=\"temperature\"") && asRows.body.contains("data-window=\"ph\"") && asRows.body.contains("<svg"))

        // A window before the batch holds none of its samples, and says so.
        let before = try await web.get(Self.window(from: -600, to: -300))
        #expect(before.status == 200 && before.body.contains("<strong>0 samples</strong>") && before.body.contains("was taken in the window"),
                "\(before.body.prefix(1000))")
    }

    @Test("a window reads the same samples from chunks as from rows, across numbers that never arrived; the review page offers it")
    func samplesKeptAsChunks() async throws {
        // A chunk at a window's edge is read whole: the page's own limit, not the running page's 50.
        let fixture = try await WebFixture()
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)
        let review = try await web.get(Self.batchPath)
        #expect(review.status == 200 && review.body.contains("Disposition") && review.body.contains("action=\"\(Self.batchPath)/window\""),
                "\(review.body.prefix(600))")

        // The same samples chained as a site's store chains them, batch Z-1 on rocker-5, kept as
        // chunks where settled (1...129; 150...180 stay rows behind the numbers that never arrived).
        let excursion = "<tr><td>expansion</td><td>21</td><td>36.95</td><td>38.6</td>"
        let spec = try #require(try fixture.db.connection.execute("SELECT spec FROM batch_runs WHERE batch = 'A-1' LIMIT 1").string(0, "spec"))
        let chained = SiteFeed(site: WebFixture.site, chains: fixture.db.chains)
        func temperature(_ seq: Int64) -> Double { (100...110).contains(seq) ? 38.6 : 37.0 + (seq % 2 == 0 ? 0.05 : -0.05) }
        _ = try fixture.db.write([
            chained.telemetry("rocker-5", 1...60, batch: "Z-1", phase: "activation", spec: spec) { ["temperature": temperature($0), "ph": 7.2] },
            chained.telemetry("rocker-5", 61...129, batch: "Z-1", phase: "expansion", spec: spec) { ["temperature": temperature($0), "ph": 7.21] },
            chained.telemetry("rocker-5", 150...180, batch: "Z-1", phase: "expansion", spec: spec) { ["temperature": temperature($0), "ph": 7.19] },
        ])
        try SampleCompaction(settledAfter: 0).run(on: fixture.db.connection, logger: Logger(label: "test"))
        #expect(try fixture.db.count("SELECT count(*) FROM samples WHERE stream = 'rocker-5/telemetry' AND seq BETWEEN 95 AND 129") == 0)
        #expect(try fixture.db.count("SELECT count(*) FROM sample_chunks WHERE stream = 'rocker-5/telemetry'") >= 1)
        let asChunks = try await web.get(Self.window(from: 95, to: 115, device: "rocker-5", batch: "Z-1"))
        #expect(asChunks.status == 200 && asChunks.body.contains("<strong>21 samples</strong>") && asChunks.body.contains(excursion),
                "\(asChunks.body.prefix(2000))")

        // Across the numbers that never arrived: 120...129 from a chunk, 150...160 from rows.
        #expect(try fixture.db.count("SELECT count(*) FROM samples WHERE stream = 'rocker-5/telemetry' AND seq BETWEEN 150 AND 160") == 11)
        let across = try await web.get(Self.window(from: 120, to: 160, device: "rocker-5", batch: "Z-1"))
        #expect(across.status == 200 && across.body.contains("<strong>21 samples</strong>"), "\(across.body.prefix(2000))")
        #expect(across.body.contains("<tr><td>expansion</td><td>21</td><td>36.95</td><td>37.05</td>"), "\(across.body)")
    }

    @Test("a window wider than a page reads, reversed, without its times or of a device not in the batch is refused with why")
    func refusedWindows() async throws {
        let fixture = try await WebFixture { $0.pageRunningMaxSamples = 50 }
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)

        let wide = try await web.get(Self.window(from: 1, to: 180))
        #expect(wide.status == 400 && wide.body.contains("reaches 180 numbers") && wide.body.contains("page_running_max_samples"), "\(wide.body.prefix(800))")
        let reversed = try await web.get(Self.window(from: 115, to: 95))
        #expect(reversed.status == 400 && reversed.body.contains("must end after it starts"), "\(reversed.body.prefix(800))")
        let longer = try await web.get(Self.window(from: 1, to: 8 * 86_400))
        #expect(longer.status == 400 && longer.body.contains("longer than a week"), "\(longer.body.prefix(800))")
        let farAway = try await web.get("\(Self.batchPath)/window?device=rocker-1&from=9000-01-01T00:00:00Z&to=9000-01-01T01:00:00Z")
        #expect(farAway.status == 400 && farAway.body.contains("between 1970 and the year 5000"), "\(farAway.body.prefix(800))")
        let untimed = try await web.get("\(Self.batchPath)/window?device=rocker-1&from=yesterday")
        #expect(untimed.status == 400 && untimed.body.contains("from= and to="), "\(untimed.body.prefix(800))")
        let nobody = try await web.get("\(Self.batchPath)/window?from=x")
        #expect(nobody.status == 400 && nobody.body.contains("device="), "\(nobody.body.prefix(800))")
        let stranger = try await web.get(Self.window(from: 95, to: 115, device: "rocker-9"))
        #expect(stranger.status == 404 && stranger.body.contains("No samples of rocker-9"), "\(stranger.body.prefix(800))")

        // Signed out, nothing is shown.
        let anonymous = try await fixture.client().get(Self.window(from: 95, to: 115))
        #expect(anonymous.status != 200 && !anonymous.body.contains("samples</strong>"))
    }
}
