import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

@Suite("pocare-control compare over the sites' batch records", .serialized)
struct CompareCommandTests {
    /// Batch-to-batch variation as real runs have it, and within-batch noise.
    static let offsets = [-0.06, 0.03, 0.0, 0.05, -0.02, 0.01]

    static func steady(_ base: Double, _ n: Int, ph: Double = 7.2) -> (Int64) -> [String: Double] {
        { seq in ["temperature": base + offsets[n % offsets.count] + (seq % 2 == 0 ? 0.02 : -0.02), "ph": ph] }
    }

    static func release(_ db: IngestDatabase) throws -> String {
        try db.releaseExampleSpec()
    }

    /// The reference site-a: five certified batches of the stirred tank, and beside them one not
    /// certified, one still running and one of another equipment model.
    static func reference(_ db: IngestDatabase, spec: String) throws {
        for n in 0..<5 {
            var b = RecordedBatch(site: "site-a", device: "str-\(n + 1)", batch: "A\(n + 1)", values: steady(37.0, n))
            b.startingMaterial = "SM-\(n + 1)"
            try b.write(to: db, spec: spec)
            try db.certify(site: "site-a", batch: "A\(n + 1)")
        }
        try RecordedBatch(site: "site-a", device: "str-6", batch: "A6-UNCERTIFIED", values: steady(37.0, 0)).write(to: db, spec: spec)
        var running = RecordedBatch(site: "site-a", device: "str-7", batch: "A7-RUNNING", values: steady(37.0, 1))
        running.ended = false
        try running.write(to: db, spec: spec)
        var rocker = RecordedBatch(site: "site-a", device: "rocker-1", batch: "A8-ROCKER", values: steady(36.0, 2))
        rocker.profile = "rocking-bag-rb50"
        try rocker.write(to: db, spec: spec)
        try db.certify(site: "site-a", batch: "A8-ROCKER")
    }

    @Test("an additional site with one batch is judged; a warm one and a shape-only difference are not comparable; exclusions are listed")
    func oneBatchSites() throws {
        let db = try IngestDatabase()
        let spec = try Self.release(db)
        try Self.reference(db, spec: spec)
        // site-b: comparable; its pH 0.005 off a reference that never varied, far below what the spec resolves.
        try RecordedBatch(site: "site-b", device: "str-1", batch: "B1", values: Self.steady(37.01, 2, ph: 7.205)).write(to: db, spec: spec)
        // site-c: its probe reads 0.5 degC warm.
        try RecordedBatch(site: "site-c", device: "str-1", batch: "C1", values: Self.steady(37.5, 2)).write(to: db, spec: spec)
        // site-d: the mean of the reference, but 0.4 degC over for two minutes and under for two.
        try RecordedBatch(site: "site-d", device: "str-1", batch: "D1") { seq in
            let minute = (seq - 1) / 60
            return ["temperature": 37.0 + (minute == 2 || minute == 3 ? 0.4 : minute == 5 || minute == 6 ? -0.4 : 0), "ph": 7.2]
        }.write(to: db, spec: spec)
        // site-e: a record that claims a sample the Control Site never received.
        var e = RecordedBatch(site: "site-e", device: "str-1", batch: "E1", values: Self.steady(37.0, 2))
        e.recordClaimsMore = true
        try e.write(to: db, spec: spec)

        let output = try run("pocare-control", ["compare", "--spec", String(spec.dropFirst(7).prefix(12)), "--phase", "expansion",
                                                       "--reference", "site-a", "--profile", "stirred-tank-str10", "--profiles", shippedProfiles,
                                                       "--json", "--database", db.connectionInfo])
        #expect(output.status == 1)
        let report = try #require(jsonValue(output.output) as? [String: Any])
        let batches = try #require(report["batches"] as? [[String: Any]])
        func batch(_ id: String) -> [String: Any]? { batches.first { $0["batch"] as? String == id } }
        func reasons(_ id: String) -> String { (batch(id)?["reasons"] as? [String])?.joined(separator: "; ") ?? "" }
        #expect(batches.filter { $0["site"] as? String == "site-a" && $0["status"] as? String == "included" }.count == 5, "\(batches.map { "\($0["batch"]!) \($0["reasons"]!)" })")
        #expect(reasons("A6-UNCERTIFIED").contains("not certified"))
        #expect(reasons("A7-RUNNING").contains("running"))
        #expect(reasons("A8-ROCKER").contains("equipment model rocking-bag-rb50, not stirred-tank-str10"))
        #expect(reasons("E1").contains("fails verification"))
        #expect(batch("A1")?["record_seq"] as? Int == 2 && batch("A1")?["starting_material"] as? String == "SM-1")

        let judgements = try #require(report["judgements"] as? [[String: Any]])
        let verdicts = Dictionary(uniqueKeysWithValues: judgements.map { ($0["site"] as! String, $0["verdict"] as! String) })
        #expect(verdicts == ["site-b": "comparable", "site-c": "not comparable", "site-d": "not comparable", "site-e": "not judged"])
        func parameter(_ site: String, _ name: String) -> [String: Any]? {
            (judgements.first { $0["site"] as? String == site }?["parameters"] as? [[String: Any]])?.first { $0["parameter"] as? String == name }
        }
        // One batch: Tier 2 judges it, Tier 1 does not run and says why.
        let warm = try #require(parameter("site-c", "temperature"))
        #expect((warm["quality_range"] as? [String: Any])?["passed"] as? Bool == false)
        #expect(warm["equivalence"] == nil && (warm["reasons"] as? [String])?.contains { $0.contains("too few batches for an equivalence test") } == true)
        // The shape-only difference: inside the quality range, outside the envelope.
        let shape = try #require(parameter("site-d", "temperature"))
        #expect((shape["quality_range"] as? [String: Any])?["passed"] as? Bool == true)
        let envelope = try #require((shape["envelope"] as? [[String: Any]])?.first?["result"] as? [String: Any])
        #expect(envelope["passed"] as? Bool == false && (envelope["inside_share"] as? Double ?? 1) <= 0.7)
        // The near-constant reference pH: the floor (5% of the alert band) stands in for an SD of 0.
        let ph = try #require(parameter("site-b", "ph"))
        #expect(ph["verdict"] as? String == "comparable")
        #expect(((ph["reference"] as? [String: Any])?["floor_applied"] as? Bool) == true)

        let table = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a",
                                                      "--profile", "stirred-tank-str10", "--profiles", shippedProfiles, "--database", db.connectionInfo])
        #expect(table.output.contains("site-c: NOT COMPARABLE") && table.output.contains("site-b: COMPARABLE"))
        #expect(table.output.contains("not certified") && table.output.contains("5% of the alert band"))

        // Equipment models are never pooled: without a model, the command refuses to choose.
        let pooled = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a",
                                                       "--profiles", shippedProfiles, "--database", db.connectionInfo])
        #expect(pooled.status == 1 && pooled.errors.contains("models are never pooled"))

        let csv = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a",
                                                    "--profile", "stirred-tank-str10", "--profiles", shippedProfiles, "--csv",
                                                    "--database", db.connectionInfo])
        let lines = csv.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("site,device,batch,role,status,reasons,record_hash") == true)
        #expect(lines.contains { $0.hasPrefix("site-a,str-6,A6-UNCERTIFIED,reference,excluded,not certified") })
    }

    @Test("the yearly check pairs batches from one split starting material and stores a report whose hash QA can sign")
    func yearlyPaired() throws {
        let db = try IngestDatabase()
        let spec = try Self.release(db)
        try Self.reference(db, spec: spec)
        for n in 0..<3 {
            var b = RecordedBatch(site: "site-b", device: "str-\(n + 1)", batch: "B\(n + 1)", values: Self.steady(37.01, n))
            b.startingMaterial = "SM-\(n + 1)"
            try b.write(to: db, spec: spec)
        }
        var unpaired = RecordedBatch(site: "site-b", device: "str-9", batch: "B9", values: Self.steady(37.0, 0))
        unpaired.startingMaterial = "SM-OTHER"
        try unpaired.write(to: db, spec: spec)
        let output = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a",
                                                       "--profile", "stirred-tank-str10", "--kind", "yearly", "--site", "site-b", "--save",
                                                       "--profiles", shippedProfiles, "--json", "--database", db.connectionInfo])
        #expect(output.status == 0, "\(output.errors)")
        let report = try #require(jsonValue(output.output) as? [String: Any])
        let b9 = try #require((report["batches"] as? [[String: Any]])?.first { $0["batch"] as? String == "B9" })
        #expect((b9["reasons"] as? [String])?.first?.contains("no included reference batch from starting material SM-OTHER") == true)
        let site = try #require((report["judgements"] as? [[String: Any]])?.first)
        let temperature = try #require((site["parameters"] as? [[String: Any]])?.first { $0["parameter"] as? String == "temperature" })
        let paired = try #require(temperature["paired"] as? [String: Any])
        #expect(paired["pairs"] as? Int == 3 && paired["equivalent"] as? Bool == true)
        #expect(output.errors.contains("stored as comparison 1"))

        let stored = try #require(try StoredComparisons.find(1, on: db.connection))
        #expect(stored.entry.intact && stored.entry.verdicts == ["site-b": "comparable"] && stored.entry.kind == "yearly")
        #expect(try db.scalar("SELECT count(*) FROM control_audit WHERE action = 'comparison.store'") == "1")
        // The stored report cannot be changed in place.
        #expect(throws: (any Error).self) { try db.connection.execute("UPDATE comparison_reports SET report = '{}' WHERE id = 1") }
        let list = try run("pocare-control", ["comparisons", "list", "--database", db.connectionInfo])
        #expect(list.output.contains("yearly") && list.output.contains("site-b comparable"), "\(list.output) \(list.errors)")
    }
}
