import ControlSiteRecords
import Foundation
import POCareConfig
import Testing
import TestSupport

/// The reference site of a comparison is the POC Master File's where it names one.
@Suite("The reference site of a comparison comes from the POC Master File", .serialized)
struct ComparisonReferenceTests {
    @Test("naming another site the reference is refused; the batches' roles are the Master File's and the report says so")
    func referenceFromMasterFile() throws {
        let db = try IngestDatabase()
        let spec = try db.releaseExampleSpec()
        try db.registerSite("site-a", role: .reference, qualification: .qualified)
        try db.registerSite("site-b", role: .additional)
        for n in 0..<3 {
            try RecordedBatch(site: "site-a", device: "str-\(n + 1)", batch: "A\(n + 1)", values: CompareCommandTests.steady(37.0, n))
                .write(to: db, spec: spec)
            try db.certify(site: "site-a", batch: "A\(n + 1)")
        }
        try RecordedBatch(site: "site-b", device: "str-1", batch: "B1", values: CompareCommandTests.steady(37.0, 2)).write(to: db, spec: spec)
        func compare(reference: String) throws -> ProcessResult {
            try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", reference, "--profile", "stirred-tank-str10",
                                       "--profiles", shippedProfiles, "--json", "--database", db.connectionInfo])
        }
        let wrong = try compare(reference: "site-b")
        #expect(wrong.status == 1 && wrong.errors.contains("the POC Master File names site-a as the reference site, not site-b"))

        let right = try compare(reference: "site-a")
        let report = try #require(jsonValue(right.output) as? [String: Any], "\(right.errors)")
        #expect((report["role_source"] as? String)?.hasPrefix("the POC Master File") == true)
        let roles = Dictionary((report["batches"] as? [[String: Any]] ?? []).map { ($0["batch"] as? String ?? "", $0["role"] as? String ?? "") },
                               uniquingKeysWith: { a, _ in a })
        #expect(roles == ["A1": "reference", "A2": "reference", "A3": "reference", "B1": "additional"])
    }
}
