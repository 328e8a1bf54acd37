import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

@Suite("pocare-control compare over stored batches", .serialized)
struct CompareCommandTests {
    @Test("several batches per site: the site running 0.5 degC warm is flagged, only it; a site with two batches is too few")
    func compareSites() throws {
        let db = try IngestDatabase()
        let spec = try db.releaseExampleSpec()
        // Batch-to-batch variation as real runs have it, and within-batch noise.
        let offsets = [-0.06, 0.03, 0.0, 0.05, -0.02, 0.01]
        func batches(_ site: String, _ base: Double, count: Int) throws {
            let feed = SiteFeed(site: site)
            for n in 0..<count {
                let device = "rocker-\(n + 1)"
                try db.write([feed.telemetry(device, 1...120, batch: "\(site)-B\(n + 1)", phase: "expansion", spec: spec) { seq in
                    ["temperature": base + offsets[n % offsets.count] + (seq % 2 == 0 ? 0.02 : -0.02), "ph": 7.2]
                }])
            }
        }
        try batches("site-a", 37.0, count: 6)
        try batches("site-b", 37.0, count: 5)
        try batches("site-c", 37.5, count: 6)
        try batches("site-d", 37.0, count: 2)

        let output = try runCommand("pocare-control", ["compare", "--spec", String(spec.dropFirst(7).prefix(12)), "--phase", "expansion",
                                                       "--reference", "site-a", "--profiles", shippedProfiles, "--json",
                                                       "--database", db.connectionInfo])
        #expect(output.status == 1)
        let report = try #require(jsonValue(output.output) as? [String: Any])
        #expect((report["batches"] as? [Any])?.count == 19)
        let temperature = try #require((report["sites"] as? [[String: Any]])?.filter { $0["parameter"] as? String == "temperature" })
        let bySite = Dictionary(uniqueKeysWithValues: temperature.map { ($0["site"] as! String, $0) })
        #expect(bySite["site-a"]?["flagged"] as? Bool == false)
        #expect(bySite["site-b"]?["flagged"] as? Bool == false)
        #expect(bySite["site-c"]?["flagged"] as? Bool == true)
        #expect(bySite["site-d"]?["flagged"] as? Bool == false && bySite["site-d"]?["too_few_batches"] as? Bool == true)
        // pH is the same everywhere: nobody is flagged on it.
        let ph = (report["sites"] as? [[String: Any]])?.filter { $0["parameter"] as? String == "ph" } ?? []
        #expect(!ph.isEmpty && ph.allSatisfy { $0["flagged"] as? Bool == false })

        let csv = try runCommand("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a",
                                                    "--profiles", shippedProfiles, "--csv", "--database", db.connectionInfo])
        let lines = csv.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("site,batch,device,parameter,mean") == true)
        // 19 batches × the parameters the expansion phase limits.
        let limited = ((report["batches"] as? [[String: Any]])?.first?["parameters"] as? [Any])?.count ?? 0
        #expect(limited > 0 && lines.count == 1 + 19 * limited)
        let table = try runCommand("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a",
                                                      "--profiles", shippedProfiles, "--database", db.connectionInfo])
        #expect(table.output.contains("FLAGGED") && table.output.contains("too few batches: 2"))
    }
}
