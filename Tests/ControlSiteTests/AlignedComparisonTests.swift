import ControlSiteRecords
@testable import ControlSiteWeb
import Foundation
import POCareConfig
import POCareContract
import Testing
import TestSupport

/// Comparisons whose spec names a progress variable for the phase: the trajectories compared by
/// cell density instead of by time, over the sites' batch records in a real PostgreSQL.
@Suite("pocare-control compare aligned by the spec's progress variable", .serialized)
struct AlignedComparisonTests {
    /// The example spec, with expansion aligned by viable cell density in buckets of 0.5 from 0.5.
    static let alignedSpecText = (try? String(contentsOfFile: exampleSpec, encoding: .utf8)).map {
        $0 + "\ncomparability:\n  expansion: { align_by: viable_cell_density, bucket: 0.5, from: 0.5 }\n"
    } ?? ""

    static func release(_ db: IngestDatabase) throws -> String {
        let loaded = SpecLoader.parse(alignedSpecText, file: "aligned.yaml", profiles: SpecLoader.profileCatalogue(directory: shippedProfiles))
        guard let spec = loaded.spec else { throw TestFailure("aligned spec: \(loaded.diagnostics)") }
        let id = spec.identity
        try db.approvedChange(.specRelease(.init(
            fingerprint: spec.fingerprint, product: id.product, document: id.documentId, version: id.version, approvedBy: id.approvedBy,
            approvalDate: id.approvalDate, profiles: id.profiles, specText: alignedSpecText)), reason: "CC-0043 approved")
        return spec.fingerprint
    }

    /// Cells growing exponentially from 0.5 to 8 million/mL over `seconds`; dissolved oxygen falls
    /// as they grow (95 − 5 × density, plus the batch's probe offset), temperature and pH steady.
    static func growing(seconds: Double, offset: Double, n: Int) -> (Int64) -> [String: Double] {
        { seq in
            let density = 0.5 * exp(log(16.0) * Double(seq - 1) / seconds)
            return ["viable_cell_density": density, "dissolved_oxygen": 95 - 5 * density + offset,
                    "temperature": 37.0 + CompareCommandTests.offsets[n % 6] / 2, "ph": 7.2]
        }
    }

    @Test("a slower-growing batch of the same course is flagged by time and comparable by cell density; the report, plots and CSV say which")
    func slowerGrowth() throws {
        let db = try IngestDatabase()
        let spec = try Self.release(db)
        for (n, offset) in [-0.6, 0.3, 0.0, 0.5, -0.2].enumerated() {
            try RecordedBatch(site: "site-a", device: "str-\(n + 1)", batch: "A\(n + 1)", values: Self.growing(seconds: 600, offset: offset, n: n))
                .write(to: db, spec: spec)
            try db.certify(site: "site-a", batch: "A\(n + 1)")
        }
        // site-b grows at three quarters of the reference's rate to the same density: 800 s instead of 600.
        var slow = RecordedBatch(site: "site-b", device: "str-1", batch: "B1", values: Self.growing(seconds: 800, offset: 0, n: 2))
        slow.samples = 800
        try slow.write(to: db, spec: spec)

        var raw = ""
        func compare(_ extra: [String]) throws -> [String: Any] {
            let output = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a", "--profile",
                                                    "stirred-tank-str10", "--bucket", "10", "--profiles", shippedProfiles, "--json",
                                                    "--database", db.connectionInfo] + extra)
            raw = output.output
            return try #require(jsonValue(output.output) as? [String: Any], "\(output.errors)")
        }
        func oxygen(_ report: [String: Any]) throws -> [String: Any] {
            let site = try #require((report["judgements"] as? [[String: Any]])?.first { $0["site"] as? String == "site-b" })
            return try #require((site["parameters"] as? [[String: Any]])?.first { $0["parameter"] as? String == "dissolved_oxygen" })
        }
        func envelope(_ parameter: [String: Any]) throws -> [String: Any] {
            try #require((parameter["envelope"] as? [[String: Any]])?.first?["result"] as? [String: Any])
        }

        let byProgress = try compare([])
        let report = try ComparisonReport.decode(canonicalJSON: Data(raw.utf8))
        let alignment = try #require((byProgress["settings"] as? [String: Any])?["alignment"] as? [String: Any])
        #expect(alignment["parameter"] as? String == "viable_cell_density" && alignment["unit"] as? String == "10*6/mL"
                && alignment["bucket"] as? Double == 0.5 && (alignment["non_monotone"] as? String)?.contains("running maximum") == true)
        let progressOxygen = try oxygen(byProgress)
        #expect(progressOxygen["verdict"] as? String == "comparable", "\(progressOxygen["reasons"] ?? "")")
        #expect(try envelope(progressOxygen)["passed"] as? Bool == true && (try envelope(progressOxygen)["compared_buckets"] as? Int ?? 0) >= 10)
        let b1 = try #require((byProgress["batches"] as? [[String: Any]])?.first { $0["batch"] as? String == "B1" })
        #expect((b1["time_trajectories"] as? [String: Any])?["viable_cell_density"] != nil && b1["progress_held_buckets"] as? Int == 0)
        #expect((b1["trajectories"] as? [String: Any])?["viable_cell_density"] == nil)

        let byTime = try compare(["--align-by-time"])
        #expect((byTime["settings"] as? [String: Any])?["alignment"] == nil)
        let timeOxygen = try oxygen(byTime)
        #expect(timeOxygen["verdict"] as? String == "not comparable")
        #expect(try envelope(timeOxygen)["passed"] as? Bool == false)
        #expect((timeOxygen["reasons"] as? [String])?.contains { $0.contains("Tier 3") && $0.contains("of its time inside") } == true)

        // The text states the alignment; the trajectories CSV names the axis of every row.
        let text = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a", "--profile",
                                              "stirred-tank-str10", "--bucket", "10", "--profiles", shippedProfiles, "--database", db.connectionInfo])
        #expect(text.output.contains("trajectories aligned by viable_cell_density (named by the spec), buckets of 0.5 10*6/mL from 0.5"))
        let csv = try run("pocare-control", ["compare", "--spec", spec, "--phase", "expansion", "--reference", "site-a", "--profile",
                                             "stirred-tank-str10", "--bucket", "10", "--profiles", shippedProfiles, "--trajectories-csv",
                                             "--database", db.connectionInfo])
        let rows = csv.output.split(separator: "\n")
        #expect(rows.first == "site,device,batch,status,parameter,axis,axis_unit,bucket,bucket_from,bucket_to,value")
        #expect(rows.contains { $0.hasPrefix("site-b,str-1,B1,included,dissolved_oxygen,viable_cell_density,10*6/mL,0,0.5,1,") })
        #expect(rows.contains { $0.hasPrefix("site-b,str-1,B1,included,viable_cell_density,time,s,0,0,10,") })

        // The page draws the envelope along cell density and says how the trajectories were aligned.
        let page = ComparisonReportView.render(report)
        let plot = try #require(page.components(separatedBy: "<svg").first { $0.contains("class=\"envelope-plot\" data-parameter=\"dissolved_oxygen\"") })
        #expect(plot.contains("class=\"x-axis\"") && plot.contains("viable_cell_density (10*6/mL)</text>"))
        #expect(page.contains("aligned by the progress variable the spec names, <b>viable_cell_density</b>"))
    }

    @Test("a comparison of an equipment model that lacks the spec's progress variable is refused, naming it")
    func modelWithoutProgressVariable() throws {
        let catalogue = SpecLoader.profileCatalogue(directory: shippedProfiles)
        // The stirred tank has a working volume, the rocking bag has none.
        let text = Self.alignedSpecText.replacingOccurrences(of: "align_by: viable_cell_density, bucket: 0.5, from: 0.5", with: "align_by: culture_volume, bucket: 10")
        let spec = try #require(SpecLoader.parse(text, file: "volume.yaml", profiles: catalogue).spec)
        var request = ComparisonRequest(spec: spec, phase: "expansion", reference: "site-a")
        request.profile = "rocking-bag-rb50"
        request.profiles = catalogue
        let refusal = #expect(throws: ComparisonReport.Refusal.self) {
            try ComparisonReport.build(request, facts: [], generated: "2026-12-04T00:00:00Z") { _, _, _, _ in [:] }
        }
        #expect(refusal?.description.contains("aligns phase expansion by 'culture_volume', which equipment model rocking-bag-rb50 does not have") == true)
        request.profile = "stirred-tank-str10"
        let report = try ComparisonReport.build(request, facts: [], generated: "2026-12-04T00:00:00Z") { _, _, _, _ in [:] }
        #expect(report.settings.alignment?.parameter == "culture_volume" && report.settings.alignment?.unit == "mL")
        request.alignByTime = true
        #expect(try ComparisonReport.build(request, facts: [], generated: "2026-12-04T00:00:00Z") { _, _, _, _ in [:] }.settings.alignment == nil)
    }

    @Test("an aligned spec's progress variable must be a number of the profiles; the spec names where it is wrong")
    func refusedAtLoad() {
        let wrong = Self.alignedSpecText.replacingOccurrences(of: "align_by: viable_cell_density", with: "align_by: cell_count")
        let loaded = SpecLoader.parse(wrong, file: "aligned.yaml", profiles: SpecLoader.profileCatalogue(directory: shippedProfiles))
        #expect(loaded.spec == nil && loaded.diagnostics.contains { $0.field == "comparability.expansion.align_by" })
    }
}
