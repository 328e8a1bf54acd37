import ComparabilityMethod
import Foundation

/// A fixture of the independent check (Fixtures/*.json), run through the method, its results
/// flattened to the keys `scripts/comparability-check.py` prints.
struct Fixture {
    var name: String
    var json: [String: Any]

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func all() throws -> [Fixture] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted().map { file in
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(file))) as! [String: Any]
            return Fixture(name: object["name"] as! String, json: object)
        }
    }

    var isDistributions: Bool { json["kind"] as? String == "distributions" }

    var settings: MethodSettings {
        let s = json["settings"] as! [String: Any]
        var m = MethodSettings()
        m.alpha = s["alpha"] as! Double
        m.requiredPower = s["required_power"] as! Double
        m.minimumReferenceBatches = s["minimum_reference_batches"] as! Int
        m.minimumTier1Batches = s["minimum_tier1_batches"] as! Int
        m.qualityRangeRequiredShare = s["quality_range_required_share"] as! Double
        m.bucketSeconds = (s["bucket_seconds"] as! NSNumber).doubleValue
        if let a = s["align_by"] as? [String: Any] {
            m.alignment = ProgressAlignment(parameter: a["parameter"] as! String, unit: a["unit"] as? String ?? "",
                                            bucket: (a["bucket"] as! NSNumber).doubleValue, from: (a["from"] as? NSNumber)?.doubleValue ?? 0)
        }
        return m
    }

    var parameters: [(name: String, settings: ParameterSettings)] {
        (json["parameters"] as! [[String: Any]]).map { p in
            var s = ParameterSettings(floor: .init(value: (p["floor"] as! NSNumber).doubleValue, source: "fixture"))
            s.k = (p["k"] as! NSNumber).doubleValue
            s.marginFactor = (p["margin_factor"] as! NSNumber).doubleValue
            s.envelopeK = (p["envelope_k"] as! NSNumber).doubleValue
            s.envelopeRequiredShare = (p["envelope_required_share"] as! NSNumber).doubleValue
            s.tiers = p["tiers"] as! [Int]
            return (p["name"] as! String, s)
        }
    }

    /// The batches of one side as the comparison sees them: where the fixture names a progress
    /// variable, their trajectories realigned by it, as `ComparisonReport` does.
    func batches(_ side: String) -> [BatchInput] {
        (json[side] as! [[String: Any]]).map { b in
            let means = (b["means"] as! [String: Any]).mapValues { ($0 as! NSNumber).doubleValue }
            let trajectories = timeTrajectories(b)
            return BatchInput(id: b["id"] as! String, site: side, means: means,
                              trajectories: settings.alignment.map { $0.align(trajectories).trajectories } ?? trajectories,
                              startingMaterial: b["starting_material"] as? String)
        }
    }

    func timeTrajectories(_ b: [String: Any]) -> [String: [Double?]] {
        (b["trajectories"] as? [String: Any] ?? [:]).mapValues { values in (values as! [Any]).map { ($0 as? NSNumber)?.doubleValue } }
    }

    /// Each batch's realignment, under the script's keys.
    func alignmentResults(into out: inout [String: Any]) {
        guard let alignment = settings.alignment else { return }
        for side in ["reference", "test"] {
            for b in json[side] as! [[String: Any]] {
                let id = b["id"] as! String
                let aligned = alignment.align(timeTrajectories(b))
                out["align.\(id).held"] = aligned.heldBuckets
                out["align.\(id).placed"] = aligned.placedBuckets
                for (name, values) in aligned.trajectories {
                    for (j, v) in values.enumerated() { out["align.\(id).\(name).\(j)"] = v.map { $0 as Any } ?? "none" }
                }
            }
        }
    }

    /// The method's results under the script's keys.
    func results() -> [String: Any] {
        isDistributions ? distributionResults() : comparisonResults()
    }

    func distributionResults() -> [String: Any] {
        var out: [String: Any] = [:]
        func rows(_ key: String) -> [[Double]] { (json[key] as! [[NSNumber]]).map { $0.map(\.doubleValue) } }
        for (i, r) in rows("t_cdf").enumerated() { out["t_cdf[\(i)]"] = Distributions.studentTCDF(r[0], df: r[1]) }
        for (i, r) in rows("t_quantile").enumerated() { out["t_quantile[\(i)]"] = Distributions.studentTQuantile(r[0], df: r[1]) }
        for (i, r) in rows("f_cdf").enumerated() { out["f_cdf[\(i)]"] = Distributions.fisherFCDF(r[0], d1: r[1], d2: r[2]) }
        for (i, r) in rows("f_quantile").enumerated() { out["f_quantile[\(i)]"] = Distributions.fisherFQuantile(r[0], d1: r[1], d2: r[2]) }
        return out
    }

    func comparisonResults() -> [String: Any] {
        let judgement = TieredAssessment.judge(site: "test", test: batches("test"), reference: batches("reference"),
                                               parameters: parameters, settings: settings)
        var out: [String: Any] = ["verdict": judgement.verdict.rawValue]
        alignmentResults(into: &out)
        for j in judgement.parameters {
            func put(_ key: String, _ value: Any) { out["\(j.parameter).\(key)"] = value }
            put("reference.mean", j.reference.mean)
            put("reference.sd", j.reference.standardDeviation)
            put("reference.effective_sd", j.reference.effectiveStandardDeviation)
            put("verdict", j.verdict.rawValue)
            if let q = j.qualityRange {
                put("quality_range.low", q.low)
                put("quality_range.high", q.high)
                put("quality_range.inside_share", q.insideShare)
                put("quality_range.passed", q.passed)
            }
            if let power = j.power {
                put("tier1.power", power)
                put("tier1.test_batches_needed", j.testBatchesNeeded.map { $0 as Any } ?? "none")
                put("tier1.balanced_batches_needed", j.balancedBatchesNeeded.map { $0 as Any } ?? "none")
                put("tier1.ran", j.equivalence != nil)
            }
            if let e = j.equivalence {
                put("tier1.difference", e.difference)
                put("tier1.se", e.standardError)
                put("tier1.df", e.degreesOfFreedom)
                put("tier1.t", e.tCritical)
                put("tier1.lower", e.lower)
                put("tier1.upper", e.upper)
                put("tier1.equivalent", e.equivalent)
            }
            if j.settings.applies(3), j.verdict != .notJudged, settings.alignment?.parameter != j.parameter {
                let envelope = Envelope(
                    reference: batches("reference").compactMap { $0.trajectories[j.parameter] }, k: j.settings.envelopeK,
                    floor: j.settings.floor, minimumBatches: settings.minimumReferenceBatches)
                for (i, bucket) in envelope.buckets.enumerated() {
                    if let b = bucket {
                        put("envelope.bucket.\(i).mean", b.mean)
                        put("envelope.bucket.\(i).sd", b.standardDeviation)
                        put("envelope.bucket.\(i).low", b.low)
                        put("envelope.bucket.\(i).high", b.high)
                    } else {
                        put("envelope.bucket.\(i)", "not covered")
                    }
                }
                for b in j.envelope {
                    put("envelope.\(b.batch).compared", b.result.comparedBuckets)
                    put("envelope.\(b.batch).inside_share", b.result.insideShare)
                    put("envelope.\(b.batch).largest_departure", b.result.largestDeparture)
                    put("envelope.\(b.batch).largest_departure_sd", b.result.largestDepartureInStandardDeviations)
                    put("envelope.\(b.batch).passed", b.result.passed)
                }
            }
            if let p = j.paired {
                put("paired.pairs", p.pairs)
                put("paired.mean_difference", p.meanDifference)
                put("paired.sd", p.standardDeviation)
                put("paired.lower", p.lower)
                put("paired.upper", p.upper)
                put("paired.equivalent", p.equivalent)
            }
        }
        for m in judgement.multivariate {
            if let r = m.result {
                out["hotelling.\(m.batch).t2"] = r.tSquared
                out["hotelling.\(m.batch).f"] = r.fCritical
                out["hotelling.\(m.batch).critical"] = r.critical
                out["hotelling.\(m.batch).outside"] = r.outside
            } else {
                out["hotelling.\(m.batch)"] = "not run"
            }
        }
        return out
    }
}
