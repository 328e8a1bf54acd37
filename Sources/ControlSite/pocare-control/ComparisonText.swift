import ComparabilityMethod
import ControlSiteRecords

/// A comparison report for people on a terminal: what was compared and how, which batches
/// were used and which not (and why), then per parameter each tier's numbers, then each site's verdict.
enum ComparisonText {
    static func print(_ report: ComparisonReport) {
        let s = report.settings
        emit("\(report.kind.rawValue) comparison, method \(report.methodVersion), generated \(report.generated)")
        emit("spec \(report.specDocument) (\(short(report.spec))), equipment model \(report.profile), phase \(report.phase), "
             + "reference \(report.reference) (\(report.roleSource))")
        emit("alpha \(number(s.alpha)), Tier 1 from \(s.minimumTier1Batches) test batches where its power reaches \(TieredAssessment.percent(s.requiredPower)), "
             + "quality range share \(TieredAssessment.percent(s.qualityRangeRequiredShare)), buckets \(number(s.bucketSeconds)) s, "
             + "unmonitored at most \(TieredAssessment.percent(s.maximumUnmonitoredShare)); certified: \(report.certificationSource)")
        if let a = s.alignment {
            emit("trajectories aligned by \(a.parameter) (named by the spec), buckets of \(number(a.bucket)) \(a.unit) from \(number(a.from)); "
                 + "non-monotone values: \(a.nonMonotone)")
        } else {
            emit("trajectories aligned by time since phase start")
        }
        emit("")
        emitTable(["PARAMETER", "TIERS", "K", "MARGIN", "SD FLOOR", "ENVELOPE"], report.parameters.map { p in
            [p.name, p.settings.tiers.map(String.init).joined(separator: ","), number(p.settings.k), "\(number(p.settings.marginFactor)) SD",
             "\(number(p.settings.floor.value)) (\(p.settings.floor.source))",
             "±\(number(p.settings.envelopeK)) SD, \(TieredAssessment.percent(p.settings.envelopeRequiredShare)) inside"]
        })
        emit("")
        emitTable(["SITE", "BATCH", "DEVICE", "ROLE", "STATUS", "RECORD", "CERTIFIED", "WHY"], report.batches.map { b in
            [b.site, b.batch, b.device, b.role, b.status.rawValue, b.recordSeq.map { "\(b.recordStream ?? "") \($0)" } ?? "-",
             b.certifiedBy ?? "-", b.reasons.joined(separator: "; ")]
        })
        for j in report.judgements {
            emit("")
            emit("\(j.site): \(j.verdict.rawValue.uppercased()) (\(j.batches) batches)")
            for reason in j.reasons { emit("  \(reason)") }
            emitTable(["PARAMETER", "REF N", "REF MEAN", "REF SD (USED)", "MEAN", "QUALITY RANGE", "INSIDE", "POWER", "TOST DIFF [90% CI]",
                       "ENVELOPE INSIDE", "VERDICT"], j.parameters.map { p in
                [p.parameter, String(p.reference.batches), number(p.reference.mean),
                 "\(number(p.reference.standardDeviation)) (\(number(p.reference.effectiveStandardDeviation)))", number(p.testMean),
                 p.qualityRange.map { "\(number($0.low))...\(number($0.high))" } ?? "-",
                 p.qualityRange.map { TieredAssessment.percent($0.insideShare) } ?? "-",
                 p.power.map(TieredAssessment.percent) ?? "-",
                 p.equivalence.map { "\(number($0.difference)) [\(number($0.lower)), \(number($0.upper))]" } ?? "not run",
                 p.envelope.isEmpty ? "-" : p.envelope.map { TieredAssessment.percent($0.result.insideShare) }.joined(separator: " "),
                 p.verdict.rawValue]
            })
            // What the verdict's reasons do not say already: the notes (floors used, tiers not run).
            for p in j.parameters {
                for reason in p.reasons where !j.reasons.contains("\(p.parameter): \(reason)") { emit("  \(p.parameter): \(reason)") }
            }
            for m in j.multivariate {
                if let r = m.result {
                    emit("  \(m.batch): Hotelling's T² \(number(r.tSquared)), critical \(number(r.critical)) "
                         + "(F \(number(r.fCritical)), \(r.parameters.count) parameters, \(r.referenceBatches) reference batches)"
                         + (r.outside ? " OUTSIDE" : ""))
                } else {
                    emit("  \(m.batch): Hotelling's T² not run: \(m.notRun ?? "")")
                }
            }
        }
    }
}
