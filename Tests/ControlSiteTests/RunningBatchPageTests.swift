import ControlSiteRecords
import Foundation
import Testing
import TestSupport

/// The page of a running batch too long to read whole: shown from the minute rollups kept at
/// ingest, reading no sample, until the batch ends and its whole record is read.
@Suite("A running batch's page from its minute rollups", .serialized)
struct RunningBatchPageTests {
    static let path = "/batches/\(WebFixture.site)/\(WebFixture.batch)"

    @Test("a running batch with more samples than a running page reads is shown from its rollups, with every sample locked away")
    func runningBatchFromRollups() async throws {
        // A-1 has 160 samples on rocker-1: more than 50.
        let fixture = try await WebFixture { $0.pageRunningMaxSamples = 50 }
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)
        let lock = try PostgresConnection(fixture.db.connectionInfo)
        try lock.execute("BEGIN")
        try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        let page = try await web.get(Self.path)
        try lock.execute("ROLLBACK")
        #expect(page.status == 200, "\(page.body.prefix(400))")
        #expect(page.body.contains("minute rollups") && page.body.contains("page_running_max_samples"))
        #expect(page.body.contains("data-trend=\"temperature\"") && page.body.contains("data-trend=\"ph\"") && page.body.contains("<svg"))
        // Per phase: activation's 60 samples, pH 7.2 throughout; temperature alternating 37.05 and
        // 36.95, each held a second, so its time-weighted mean is 37.
        #expect(page.body.contains("<tr><td>activation</td><td>60</td><td>60</td><td>7.2</td><td>7.2</td><td>7.2</td></tr>"))
        #expect(page.body.contains("<tr><td>activation</td><td>60</td><td>60</td><td>36.95</td><td>37.05</td><td>37</td></tr>"))
        // Expansion: 100 samples (61...129 and 150...180; 130...149 never arrived), up to the action excursion at 38.6.
        #expect(page.body.contains("<tr><td>expansion</td><td>100</td><td>100</td><td>36.95</td><td>38.6</td>"))
        // No review is offered on it: nothing to sign while the batch runs.
        #expect(!page.body.contains("record_hash"))

        // Ended, the batch's whole record is read for its page, not its rollups.
        try PreparedBatchReviewTests.end(fixture)
        let ended = try await web.get(Self.path)
        #expect(ended.status == 200 && !ended.body.contains("minute rollups") && ended.body.contains("Disposition"), "\(ended.body.prefix(400))")
    }

    @Test("rollups kept for samples stored before them are not claimed: the page says how many samples they cover")
    func rollupsCoverOnlyWhatTheyCounted() async throws {
        let fixture = try await WebFixture { $0.pageRunningMaxSamples = 50 }
        // As a database migrated with samples already stored: the rollups of activation's minute(s) are missing.
        try fixture.db.connection.execute("DELETE FROM sample_minutes WHERE batch = 'A-1' AND phase = 'activation'")
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)
        let page = try await web.get(Self.path)
        #expect(page.status == 200 && page.body.contains("100 of them in the rollups"), "\(page.body.prefix(600))")
    }

    @Test("the plot's stretches of minutes hold each parameter's lowest and highest values, however few stretches are asked for")
    func stretchesHoldTheExtremes() async throws {
        let fixture = try await WebFixture { $0.pageRunningMaxSamples = 50 }
        for stretches in [1, 2, 400] {
            let trend = try #require(try RunningBatchTrend.load(site: WebFixture.site, batch: WebFixture.batch, stretches: stretches,
                                                                maxParameters: 10, on: fixture.db.connection))
            let device = try #require(trend.devices.first { $0.device == "rocker-1" })
            let temperature = try #require(device.parameters.first { $0.name == "temperature" })
            #expect(!temperature.stretches.isEmpty && temperature.stretches.count <= stretches)
            #expect(temperature.stretches.compactMap(\.lo).min() == 36.95 && temperature.stretches.compactMap(\.hi).max() == 38.6)
            #expect(zip(temperature.stretches, temperature.stretches.dropFirst()).allSatisfy { $0.end <= $1.start })
            if stretches == 1 { #expect(temperature.stretches.first?.lo == 36.95 && temperature.stretches.first?.hi == 38.6) }
            let ph = try #require(device.parameters.first { $0.name == "ph" })
            #expect(ph.phases.map(\.phase) == ["activation", "expansion"] && ph.phases.first?.lo == 7.2 && abs((ph.phases.first?.mean ?? 0) - 7.2) < 1e-9)
        }
    }

    @Test("a device naming more parameters than one read takes has every one of them summed")
    func manyParameters() async throws {
        let fixture = try await WebFixture { $0.pageRunningMaxSamples = 50 }
        let db = fixture.db.connection
        // A minute of rocker-1 naming 30 parameters more, x01 holding 1 ... x30 holding 30.
        let names = (1...30).map { String(format: "x%02d", $0) }
        let numbers = (1...30).map { String($0) }.joined(separator: ",")
        try db.execute("""
            INSERT INTO sample_minutes (site, epoch, stream, minute, batch, phase, parameters, samples, n, lo, hi, wsum, held)
            SELECT site, epoch, stream, min(minute), batch, 'extra', $1::text[], $2::int[], $2::int[], $3::float8[], $3::float8[], $3::float8[], $2::int[]::float8[]
            FROM sample_minutes WHERE batch = 'A-1' GROUP BY site, epoch, stream, batch
            """, [PostgresArray.text(names), "{" + Array(repeating: "1", count: 30).joined(separator: ",") + "}", "{\(numbers)}"])
        let trend = try #require(try RunningBatchTrend.load(site: WebFixture.site, batch: WebFixture.batch, stretches: 10, maxParameters: 100, on: db))
        let device = try #require(trend.devices.first { $0.device == "rocker-1" })
        for (i, name) in names.enumerated() {
            let parameter = try #require(device.parameters.first { $0.name == name })
            #expect(parameter.phases.map(\.phase) == ["extra"] && parameter.phases.first?.lo == Double(i + 1) && parameter.phases.first?.mean == Double(i + 1))
            #expect(parameter.stretches.count == 1 && parameter.stretches.first?.hi == Double(i + 1))
        }
        let temperature = try #require(device.parameters.first { $0.name == "temperature" })
        #expect(temperature.stretches.compactMap(\.lo).min() == 36.95 && temperature.stretches.compactMap(\.hi).max() == 38.6)
    }
}
