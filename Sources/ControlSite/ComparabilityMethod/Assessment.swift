import Foundation

/// One batch as the comparison sees it: its time-weighted mean per parameter in the phase, its
/// trajectory per parameter (mean per time bucket since phase start, or per bucket of the
/// progress variable where `MethodSettings.alignment` names one; nil where it has none),
/// and the starting material it was made from, where the site recorded one.
public struct BatchInput: Sendable, Codable, Equatable {
    public var id: String
    public var site: String
    public var means: [String: Double]
    public var trajectories: [String: [Double?]]
    public var startingMaterial: String?

    public init(id: String, site: String, means: [String: Double], trajectories: [String: [Double?]] = [:], startingMaterial: String? = nil) {
        self.id = id
        self.site = site
        self.means = means
        self.trajectories = trajectories
        self.startingMaterial = startingMaterial
    }
}

public enum Verdict: String, Sendable, Codable, Equatable {
    case comparable
    case notComparable = "not comparable"
    case notJudged = "not judged"
}

/// One parameter of one test site, tier by tier.
public struct ParameterJudgement: Sendable, Codable, Equatable {
    public struct BatchEnvelope: Sendable, Codable, Equatable {
        public var batch: String
        public var result: EnvelopeResult
    }

    public var parameter: String
    public var settings: ParameterSettings
    public var reference: ReferenceStatistics
    public var testBatches: Int
    public var testMean: Double?
    public var testStandardDeviation: Double?
    public var qualityRange: QualityRangeResult?
    /// Tier 1's power for these counts, whether or not it ran.
    public var power: Double?
    public var equivalence: EquivalenceResult?
    /// With this reference, the fewest test batches that give Tier 1 its power (nil: none up to 200).
    public var testBatchesNeeded: Int?
    /// The fewest batches per site, equal on both sides, that give Tier 1 its power.
    public var balancedBatchesNeeded: Int?
    public var envelope: [BatchEnvelope]
    public var paired: PairedResult?
    public var verdict: Verdict
    public var reasons: [String]
}

/// One test batch's parameter means against the reference, all parameters at once.
public struct MultivariateJudgement: Sendable, Codable, Equatable {
    public var batch: String
    public var result: HotellingResult?
    /// Why it did not run, when it did not.
    public var notRun: String?
}

public struct SiteJudgement: Sendable, Codable, Equatable {
    public var site: String
    public var batches: Int
    public var parameters: [ParameterJudgement]
    public var multivariate: [MultivariateJudgement]
    public var verdict: Verdict
    public var reasons: [String]
}

/// The tiered comparison of one test site with the reference (ICH Q5E; the FDA's tiered
/// approach), per parameter: Tier 2 (quality range) from one batch on; Tier 1 (TOST) from
/// `minimumTier1Batches` on and only where its power reaches `requiredPower`; Tier 3 (the
/// trajectory against the reference envelope) per batch; a paired comparison where test and
/// reference batches share a starting material; Hotelling's T² per batch where the reference
/// holds more batches than parameters.
public enum TieredAssessment {
    public static func judge(
        site: String, test: [BatchInput], reference: [BatchInput], parameters: [(name: String, settings: ParameterSettings)],
        settings: MethodSettings
    ) -> SiteJudgement {
        let judgements = parameters.map { p in
            judge(parameter: p.name, p.settings, test: test, reference: reference, settings: settings)
        }
        let multivariate = self.multivariate(test: test, reference: reference, parameters: parameters, alpha: settings.alpha)
        var reasons: [String] = []
        let verdict: Verdict
        if reference.count < settings.minimumReferenceBatches {
            verdict = .notJudged
            reasons.append("reference not established: \(reference.count) certified batches (at least \(settings.minimumReferenceBatches) needed)")
        } else if test.isEmpty {
            verdict = .notJudged
            reasons.append("no batch of the site is included")
        } else {
            for j in judgements where j.verdict == .notComparable {
                reasons.append(contentsOf: j.reasons.map { "\(j.parameter): \($0)" })
            }
            for m in multivariate where m.result?.outside == true {
                reasons.append("batch \(m.batch): Hotelling's T² \(format(m.result!.tSquared)) above its critical value \(format(m.result!.critical))")
            }
            verdict = reasons.isEmpty ? .comparable : .notComparable
            if reasons.isEmpty { reasons.append("every tier that ran found the site comparable with the reference") }
        }
        return SiteJudgement(site: site, batches: test.count, parameters: judgements, multivariate: multivariate, verdict: verdict,
                             reasons: reasons)
    }

    static func judge(
        parameter: String, _ p: ParameterSettings, test: [BatchInput], reference: [BatchInput], settings: MethodSettings
    ) -> ParameterJudgement {
        let referenceMeans = reference.compactMap { $0.means[parameter] }
        let testMeans = test.compactMap { $0.means[parameter] }
        let ref = ReferenceStatistics(referenceMeans, floor: p.floor)
        var j = ParameterJudgement(
            parameter: parameter, settings: p, reference: ref, testBatches: testMeans.count,
            testMean: testMeans.isEmpty ? nil : Descriptive.mean(testMeans),
            testStandardDeviation: testMeans.count > 1 ? Descriptive.standardDeviation(testMeans) : nil,
            qualityRange: nil, power: nil, equivalence: nil, testBatchesNeeded: nil, balancedBatchesNeeded: nil, envelope: [],
            paired: nil, verdict: .notJudged, reasons: [])
        guard referenceMeans.count >= settings.minimumReferenceBatches else {
            j.reasons.append("reference not established: \(referenceMeans.count) batches with a value (at least \(settings.minimumReferenceBatches) needed)")
            return j
        }
        guard !testMeans.isEmpty else {
            j.reasons.append("no test batch has a value")
            return j
        }
        var failures: [String] = [], notes: [String] = []
        if ref.floorApplied {
            notes.append("reference SD \(format(ref.standardDeviation)) below the floor \(format(p.floor.value)) (\(p.floor.source)); the floor is used")
        }
        if p.applies(2) {
            let range = QualityRangeResult(reference: ref, testMeans: testMeans, k: p.k, requiredShare: settings.qualityRangeRequiredShare)
            j.qualityRange = range
            if !range.passed {
                failures.append("Tier 2: \(percent(range.insideShare)) of batch means inside the quality range \(format(range.low))...\(format(range.high)) "
                                + "(\(percent(range.requiredShare)) required)")
            }
        }
        if p.applies(1) {
            tier1(&j, p, testMeans: testMeans, referenceMeans: referenceMeans, ref: ref, settings: settings, failures: &failures, notes: &notes)
        }
        if p.applies(3) {
            tier3(&j, p, parameter: parameter, test: test, reference: reference, settings: settings, failures: &failures, notes: &notes)
        }
        let pairs = self.pairs(test: test, reference: reference, parameter: parameter)
        if !pairs.isEmpty, let paired = PairedResult(pairs: pairs, margin: p.marginFactor * ref.effectiveStandardDeviation, alpha: settings.alpha) {
            j.paired = paired
            if !paired.equivalent {
                failures.append("paired: mean difference \(format(paired.meanDifference)) over \(paired.pairs) pairs "
                                + "(\(format(paired.lower))...\(format(paired.upper))) not within ±\(format(paired.margin))")
            }
        }
        j.verdict = failures.isEmpty ? .comparable : .notComparable
        j.reasons = failures + notes
        return j
    }

    static func tier1(
        _ j: inout ParameterJudgement, _ p: ParameterSettings, testMeans: [Double], referenceMeans: [Double], ref: ReferenceStatistics,
        settings: MethodSettings, failures: inout [String], notes: inout [String]
    ) {
        let power = EquivalencePower.power(testBatches: testMeans.count, referenceBatches: referenceMeans.count,
                                           marginFactor: p.marginFactor, alpha: settings.alpha)
        j.power = power
        j.testBatchesNeeded = EquivalencePower.testBatchesNeeded(
            referenceBatches: referenceMeans.count, marginFactor: p.marginFactor, alpha: settings.alpha, requiredPower: settings.requiredPower)
        j.balancedBatchesNeeded = EquivalencePower.balancedBatchesNeeded(
            marginFactor: p.marginFactor, alpha: settings.alpha, requiredPower: settings.requiredPower)
        guard testMeans.count >= settings.minimumTier1Batches, power >= settings.requiredPower else {
            let needed = j.testBatchesNeeded.map { "\($0) test batches with these \(referenceMeans.count) reference batches" }
                ?? "more reference batches"
            notes.append("Tier 1 not run: too few batches for an equivalence test (\(testMeans.count) test, \(referenceMeans.count) reference; "
                         + "power \(percent(power)), \(percent(settings.requiredPower)) required; needs \(needed)"
                         + (j.balancedBatchesNeeded.map { ", or \($0) on each side" } ?? "") + ")")
            return
        }
        let margin = p.marginFactor * ref.effectiveStandardDeviation
        if let test = EquivalenceResult.tost(test: testMeans, reference: referenceMeans, margin: margin, alpha: settings.alpha) {
            j.equivalence = test
            if !test.equivalent {
                failures.append("Tier 1: difference of means \(format(test.difference)) not shown within ±\(format(margin)) "
                                + "(\(percent(1 - 2 * settings.alpha)) CI \(format(test.lower))...\(format(test.upper)))")
            }
        }
    }

    static func tier3(
        _ j: inout ParameterJudgement, _ p: ParameterSettings, parameter: String, test: [BatchInput], reference: [BatchInput],
        settings: MethodSettings, failures: inout [String], notes: inout [String]
    ) {
        if let alignment = settings.alignment, alignment.parameter == parameter {
            // Against itself the progress variable has no shape: its mean per bucket of itself is the bucket.
            notes.append("Tier 3 not run: the trajectories are aligned by \(parameter) itself")
            return
        }
        let envelope = Envelope(reference: reference.compactMap { $0.trajectories[parameter] }, k: p.envelopeK, floor: p.floor,
                                minimumBatches: settings.minimumReferenceBatches)
        let axis = settings.alignment.map { "\($0.parameter) bucket" } ?? "time bucket"
        for batch in test {
            guard let trajectory = batch.trajectories[parameter] else { continue }
            let result = envelope.assess(trajectory, requiredShare: p.envelopeRequiredShare)
            j.envelope.append(.init(batch: batch.id, result: result))
            if result.comparedBuckets == 0 {
                notes.append("Tier 3: batch \(batch.id) has no \(axis) the reference envelope covers")
            } else if !result.passed {
                let at = result.largestDepartureBucket.map { b in
                    settings.alignment.map { " at \($0.parameter) \(format($0.start(of: b)))...\(format($0.start(of: b + 1))) \($0.unit)" }
                        ?? " at \(format(Double(b) * settings.bucketSeconds)) s"
                } ?? ""
                let of = settings.alignment.map { "of its \($0.parameter) buckets" } ?? "of its time"
                failures.append("Tier 3: batch \(batch.id) \(percent(result.insideShare)) \(of) inside the reference envelope "
                                + "(\(percent(result.requiredShare)) required); largest departure \(format(result.largestDeparture))\(at)")
            }
        }
    }

    /// Test and reference batches made from the same starting material, matched in order.
    static func pairs(test: [BatchInput], reference: [BatchInput], parameter: String) -> [(test: Double, reference: Double)] {
        var available = reference.filter { $0.startingMaterial != nil && $0.means[parameter] != nil }
        var pairs: [(test: Double, reference: Double)] = []
        for batch in test {
            guard let material = batch.startingMaterial, let value = batch.means[parameter],
                  let i = available.firstIndex(where: { $0.startingMaterial == material }) else { continue }
            pairs.append((value, available[i].means[parameter]!))
            available.remove(at: i)
        }
        return pairs
    }

    static func multivariate(
        test: [BatchInput], reference: [BatchInput], parameters: [(name: String, settings: ParameterSettings)], alpha: Double
    ) -> [MultivariateJudgement] {
        // The parameters every reference batch has a mean of.
        let chosen = parameters.filter { p in !reference.isEmpty && reference.allSatisfy { $0.means[p.name] != nil } }
        let names = chosen.map(\.name)
        let matrix = reference.map { b in names.map { b.means[$0]! } }
        let floors = chosen.map(\.settings.floor.value)
        return test.map { batch in
            guard names.allSatisfy({ batch.means[$0] != nil }) else {
                return MultivariateJudgement(batch: batch.id, result: nil, notRun: "the batch lacks a mean of some parameter")
            }
            switch HotellingResult.test(parameters: names, reference: matrix, floors: floors, batch: names.map { batch.means[$0]! }, alpha: alpha) {
            case .success(let r): return MultivariateJudgement(batch: batch.id, result: r, notRun: nil)
            case .failure(let refusal): return MultivariateJudgement(batch: batch.id, result: nil, notRun: refusal.description)
            }
        }
    }

    public static func percent(_ share: Double) -> String { "\(Int((share * 100).rounded()))%" }
    public static func format(_ x: Double) -> String { String(format: "%.4g", x) }
}
