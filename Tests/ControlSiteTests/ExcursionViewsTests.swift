import Foundation
import Testing
import TestSupport

extension WebSuites {
    /// One definition of an excursion: the site's batch record's. The batch page's table, the
    /// plot's shading and `pocare-control batch` all show that one, with the same start and end.
    @Suite("Every view of a batch shows the same excursion", .serialized)
    struct ExcursionViewsTests {
        static func instant(_ text: Substring) -> Date? {
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return fractional.date(from: String(text)) ?? ISO8601DateFormatter().date(from: String(text))
        }

        @Test("a temperature spike beyond the action limit: the table, the plot's shading and the command line give one start and one end")
        func oneExcursionEverywhere() async throws {
            let fixture = try await WebFixture()
            let feed = SiteFeed(site: WebFixture.site, start: Date().addingTimeInterval(-600))
            // 38.6 °C (action high 38.0) from sample 20 to 27, in range before and after.
            try fixture.db.write(try feed.finishedBatch("str-5", 1...60, batch: "SPIKE-1", spec: fixture.spec, eventSeq: 1) { seq in
                ["temperature": (20...27).contains(seq) ? 38.6 : 37.0, "ph": 7.2]
            })
            let web = fixture.client()
            try await web.signIn("quinn", WebFixture.password)
            let page = try await web.get("/batches/\(WebFixture.site)/SPIKE-1").body

            // The table: one excursion of temperature, from the site's record.
            let table = try #require(page.components(separatedBy: "class=\"excursions\"").dropFirst().first?.components(separatedBy: "</table>").first)
            let rows = table.components(separatedBy: "<tr>").filter { $0.contains("temperature") }
            #expect(rows.count == 1, "\(table)")
            let cells = try #require(rows.first).components(separatedBy: "<td>").dropFirst().map { $0.components(separatedBy: "</td>")[0] }
            let start = try #require(Self.instant(Substring(cells[3]))), end = try #require(Self.instant(Substring(cells[4])))
            #expect(end.timeIntervalSince(start) > 0 && cells[5].hasPrefix("\(Int(end.timeIntervalSince(start).rounded())) s"), "\(cells)")

            // The plot: the same interval shaded, and only it.
            let plot = try #require(page.components(separatedBy: "<svg").first { $0.contains("data-parameter=\"temperature\"") })
            let shaded = plot.components(separatedBy: "<rect class=\"excursion\"").dropFirst()
            #expect(shaded.count == 1)
            let title = try #require(shaded.first?.components(separatedBy: "<title>excursion from ").dropFirst().first?.components(separatedBy: "</title>").first)
            let ends = title.components(separatedBy: " to ")
            #expect(ends.count == 2 && Self.instant(Substring(ends[0])).map { abs($0.timeIntervalSince(start)) < 1 } == true
                    && Self.instant(Substring(ends[1])).map { abs($0.timeIntervalSince(end)) < 1 } == true, "\(title) vs \(cells[3]) \(cells[4])")

            // The command line: the same start, end and duration.
            let batch = try runCommand("pocare-control", ["batch", WebFixture.site, "SPIKE-1", "--database", fixture.db.connectionInfo])
            let line = try #require(batch.output.split(separator: "\n").first { $0.contains("str-5/temperature") && $0.contains(cells[3]) }, "\(batch.output)")
            #expect(line.contains(cells[4]) && line.contains(cells[5]), "\(line)")
        }
    }
}
