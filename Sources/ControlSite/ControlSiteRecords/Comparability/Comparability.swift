/// Comparability of sites against a reference site, batch by batch (ICH Q5E; the FDA's tiered
/// approach): the unit is the batch, and each batch contributes its time-weighted mean.
///
/// Tier 1, equivalence: two one-sided tests on the difference of batch means, with a margin of
/// `marginInReferenceSD` reference standard deviations, where both sites have enough batches.
/// Tier 2, quality range: reference mean ± K reference SD; a site conforms when at least
/// `requiredShare` of its batches fall inside. A site is flagged when either fails.
public enum Comparability {
    public struct Settings: Sendable, Codable, Equatable {
        public var k = 3.0
        public var requiredShare = 0.9
        public var marginInReferenceSD = 1.5
        public var minimumBatches = 3
        public var alpha = 0.05
        public init() {}
    }

    public struct QualityRange: Sendable, Codable, Equatable {
        public var low: Double
        public var high: Double
        public func contains(_ x: Double) -> Bool { x >= low && x <= high }
    }

    public struct SiteAssessment: Sendable, Codable, Equatable {
        public var site: String
        public var parameter: String
        public var isReference: Bool
        public var batches: Int
        public var mean: Double?
        public var standardDeviation: Double?
        public var minimum: Double?
        public var maximum: Double?
        public var qualityRange: QualityRange?
        /// Share of this site's batches whose mean lies inside the quality range.
        public var insideShare: Double?
        public var equivalence: EquivalenceTest?
        public var tooFewBatches: Bool
        public var flagged: Bool
        /// Why it is flagged, why it could not be judged, or that it conforms.
        public var reasons: [String]
    }

    /// Assesses every site's batch means of one parameter against the reference site's.
    public static func assess(parameter: String, batchMeans: [String: [Double]], reference: String, settings: Settings = Settings())
        -> [SiteAssessment]
    {
        let referenceMeans = batchMeans[reference] ?? []
        let referenceUsable = referenceMeans.count >= settings.minimumBatches
        let referenceMean = referenceMeans.isEmpty ? nil : Statistics.mean(referenceMeans)
        let referenceSD = Statistics.standardDeviation(referenceMeans)
        let range = referenceUsable ? referenceMean.map {
            QualityRange(low: $0 - settings.k * referenceSD, high: $0 + settings.k * referenceSD)
        } : nil
        let margin = settings.marginInReferenceSD * referenceSD

        return batchMeans.keys.sorted().map { site in
            let means = batchMeans[site] ?? []
            var a = SiteAssessment(
                site: site, parameter: parameter, isReference: site == reference, batches: means.count,
                mean: means.isEmpty ? nil : Statistics.mean(means),
                standardDeviation: means.count > 1 ? Statistics.standardDeviation(means) : nil,
                minimum: means.min(), maximum: means.max(), qualityRange: range, insideShare: nil, equivalence: nil,
                tooFewBatches: means.count < settings.minimumBatches, flagged: false, reasons: [])
            if let range, !means.isEmpty {
                a.insideShare = Double(means.filter(range.contains).count) / Double(means.count)
            }
            if site == reference {
                a.reasons.append(referenceUsable
                    ? "reference site"
                    : "reference site has too few batches: \(means.count) (at least \(settings.minimumBatches) needed); no site can be judged")
                return a
            }
            guard referenceUsable else {
                a.reasons.append("not judged: the reference site has too few batches")
                return a
            }
            guard !a.tooFewBatches else {
                a.reasons.append("too few batches: \(means.count) (at least \(settings.minimumBatches) needed); not judged")
                return a
            }
            if let share = a.insideShare, share < settings.requiredShare {
                a.flagged = true
                a.reasons.append(
                    "\(percent(share)) of batches inside the quality range \(format(range!.low))...\(format(range!.high)) "
                        + "(at least \(percent(settings.requiredShare)) required)")
            }
            if let test = EquivalenceTest.tost(means, referenceMeans, margin: margin, alpha: settings.alpha) {
                a.equivalence = test
                if !test.equivalent {
                    a.flagged = true
                    a.reasons.append(
                        "difference of means \(format(test.difference)) not shown within ±\(format(margin)) "
                            + "(\(percent(1 - 2 * settings.alpha)) CI \(format(test.lower))...\(format(test.upper)))")
                }
            }
            if !a.flagged { a.reasons.append("comparable to the reference") }
            return a
        }
    }

    static func percent(_ share: Double) -> String { "\(Int((share * 100).rounded()))%" }
    static func format(_ x: Double) -> String {
        let rounded = (x * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
