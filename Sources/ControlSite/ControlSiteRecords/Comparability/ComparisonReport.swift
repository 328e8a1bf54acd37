import ComparabilityMethod
import POCareContract
import Foundation
import POCareCore

/// A comparison as QA signs it: the request, the method's version and settings, every batch
/// that ran the spec with its record hash and why it was included or not, each included batch's
/// summaries and trajectories as read, and each test site's judgement. Everything needed to
/// reproduce the numbers is in it.
public struct ComparisonReport: Sendable, Codable, Equatable {
    public struct Parameter: Sendable, Codable, Equatable {
        public var name: String
        public var unit: String
        public var settings: ParameterSettings
        public var alertLow, alertHigh, actionLow, actionHigh: Double?
    }

    /// One parameter of one batch in the phase, from the site's batch record.
    public struct Summary: Sendable, Codable, Equatable {
        public var parameter: String
        public var mean: Double?
        public var standardDeviation: Double?
        public var minimum: Double?
        public var maximum: Double?
        /// Share of monitored time inside the alert range (the spec's quality range in the phase).
        public var inRangeShare: Double?
        /// Nil when the record has nothing of the parameter in the phase.
        public var unmonitoredShare: Double?
    }

    public enum Status: String, Sendable, Codable, Equatable {
        case included
        case forInformation = "for information"
        case excluded
    }

    public struct Batch: Sendable, Codable, Equatable {
        public var site: String
        public var device: String
        public var batch: String
        public var role: String
        public var first: String
        public var last: String
        public var recordStream: String?
        public var recordSeq: Int64?
        public var recordHash: String?
        public var certifiedBy: String?
        public var startingMaterial: String?
        public var phaseStart: String?
        public var phaseDurationS: Double?
        public var status: Status
        /// Why excluded or only for information; empty when included.
        public var reasons: [String]
        public var parameters: [Summary]
        /// Mean per bucket of `settings.bucketSeconds` since the phase's start; where the
        /// comparison is aligned by a progress variable (`settings.alignment`), mean per bucket of
        /// that variable, the realigned `timeTrajectories`: what Tier 3 and the plots use.
        public var trajectories: [String: [Double?]]
        /// Where aligned by progress: the trajectories as read, per time bucket, the progress variable's among them.
        public var timeTrajectories: [String: [Double?]]? = nil
        /// Where aligned by progress: time buckets whose progress value lay below the running maximum.
        public var progressHeldBuckets: Int? = nil

        public var id: String { "\(site)/\(batch)/\(device)" }
    }

    public var methodVersion = MethodSettings.methodVersion
    public var generated: String
    public var kind: ComparisonRequest.Kind
    public var spec: String
    public var specDocument: String
    public var profile: String
    public var phase: String
    public var reference: String
    public var since: String?
    public var includeNonconforming: Bool
    public var roleSource: String
    public var certificationSource: String
    public var settings: MethodSettings
    public var parameters: [Parameter]
    public var batches: [Batch]
    public var judgements: [SiteJudgement]

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// The continuous parameters the spec limits in the phase, with their settings.
    static func parameters(_ request: ComparisonRequest, profile: String) throws(Refusal) -> [Parameter] {
        guard let limits = request.spec.phase(request.phase) else {
            throw Refusal(description: "the spec has no phase '\(request.phase)' (it has: \(request.spec.phases.map(\.phase).joined(separator: ", ")))")
        }
        let model = request.profiles[profile]
        return limits.limits.filter { l in
            l.discrete == nil && [l.alertLow, l.alertHigh, l.actionLow, l.actionHigh].contains { $0 != nil }
                && (model == nil || model!.parameters.contains { $0.id == l.parameterId })
        }.map { l in
            Parameter(name: l.parameterId, unit: l.unit,
                      settings: ParameterDefaults.settings(for: l, profile: model, override: request.overrides[l.parameterId]),
                      alertLow: l.alertLow, alertHigh: l.alertHigh, actionLow: l.actionLow, actionHigh: l.actionHigh)
        }
    }

    /// The equipment model to compare: the one asked for, or the one model the records name.
    static func profile(_ request: ComparisonRequest, facts: [BatchFacts]) throws(Refusal) -> String {
        if let p = request.profile {
            guard request.spec.identity.profiles.contains(p) else {
                throw Refusal(description: "the spec is not for equipment model '\(p)' (it names \(request.spec.identity.profiles.joined(separator: ", ")))")
            }
            return p
        }
        let named = Set(facts.compactMap(\.profile))
        if named.count == 1 { return named.first! }
        if named.isEmpty, request.spec.identity.profiles.count == 1 { return request.spec.identity.profiles[0] }
        throw Refusal(description: named.isEmpty
            ? "no batch record names an equipment model yet; choose one of \(request.spec.identity.profiles.joined(separator: ", "))"
            : "batches of several equipment models ran this spec (\(named.sorted().joined(separator: ", "))); models are never pooled: choose one")
    }

    /// Builds the report from the batches' facts; `trajectory` reads one batch's trajectories.
    public static func build(
        _ request: ComparisonRequest, facts: [BatchFacts], generated: String,
        trajectory: (BatchFacts, _ phaseStart: Double, _ phaseEnd: Double?, _ parameters: [String]) throws -> [String: [Double?]]
    ) throws -> ComparisonReport {
        guard request.spec.phase(request.phase) != nil else {
            throw Refusal(description: "the spec has no phase '\(request.phase)' (it has: \(request.spec.phases.map(\.phase).joined(separator: ", ")))")
        }
        let profile = try profile(request, facts: facts)
        let parameters = try parameters(request, profile: profile)
        let names = parameters.map(\.name)
        var settings = request.settings
        settings.alignment = try alignment(request, profile: profile)
        let read = names + (settings.alignment.map { names.contains($0.parameter) ? [] : [$0.parameter] } ?? [])
        let selected = facts.filter { $0.site == request.reference || request.sites.isEmpty || request.sites.contains($0.site) }
        var batches = selected.map { f in entry(f, request: request, profile: profile, parameters: names) }
        batches = pairExclusions(batches, request: request)
        for i in batches.indices where batches[i].status != .excluded {
            guard let start = batches[i].phaseStart.flatMap(UTCTime.parse)?.timeIntervalSince1970 else { continue }
            let f = selected[i]
            let end = f.record?.phaseTimeline.first { $0.phase == request.phase }?.to.flatMap(UTCTime.parse)?.timeIntervalSince1970
            let trajectories = try trajectory(f, start, end, read)
            if let alignment = settings.alignment {
                let aligned = alignment.align(trajectories)
                batches[i].timeTrajectories = trajectories
                batches[i].trajectories = aligned.trajectories
                batches[i].progressHeldBuckets = aligned.heldBuckets
            } else {
                batches[i].trajectories = trajectories
            }
        }
        let inputs = Dictionary(grouping: batches.filter { $0.status == .included }, by: \.site).mapValues { group in
            group.map { b in
                BatchInput(id: b.id, site: b.site,
                           means: Dictionary(uniqueKeysWithValues: b.parameters.compactMap { s in s.mean.map { (s.parameter, $0) } }),
                           trajectories: b.trajectories, startingMaterial: b.startingMaterial)
            }
        }
        let testSites = Set(batches.map(\.site)).subtracting([request.reference]).sorted()
        let judgements = testSites.map { site in
            TieredAssessment.judge(site: site, test: inputs[site] ?? [], reference: inputs[request.reference] ?? [],
                                   parameters: parameters.map { ($0.name, $0.settings) }, settings: settings)
        }
        return ComparisonReport(
            generated: generated, kind: request.kind, spec: request.spec.fingerprint,
            specDocument: "\(request.spec.identity.documentId) \(request.spec.identity.version)", profile: profile, phase: request.phase,
            reference: request.reference, since: request.since.map { UTCTime.format(Date(timeIntervalSince1970: $0)) },
            includeNonconforming: request.includeNonconforming, roleSource: BatchFactsQuery.roleSource,
            certificationSource: BatchFactsQuery.certificationSource, settings: settings, parameters: parameters,
            batches: batches, judgements: judgements)
    }

    /// The progress variable the spec names for the phase, unless the request compares by time;
    /// the compared equipment model must have it (where its profile is loaded).
    static func alignment(_ request: ComparisonRequest, profile: String) throws(Refusal) -> ProgressAlignment? {
        guard !request.alignByTime, let a = request.spec.alignment(for: request.phase) else { return nil }
        let model = request.profiles[profile]
        if let model, model.parameter(a.parameterId) == nil {
            throw Refusal(description: "the spec aligns phase \(request.phase) by '\(a.parameterId)', which equipment model \(profile) does not have; "
                          + "compare by time instead")
        }
        let unit = request.spec.phase(request.phase)?.limits(for: a.parameterId)?.unit ?? model?.parameter(a.parameterId)?.unit ?? ""
        return ProgressAlignment(parameter: a.parameterId, unit: unit, bucket: a.bucket, from: a.from)
    }

    /// One batch with its summaries and the reasons it is not judged, if any.
    static func entry(_ f: BatchFacts, request: ComparisonRequest, profile: String, parameters: [String]) -> Batch {
        let phase = f.record?.phases.first { $0.phase == request.phase }
        let period = f.record?.phaseTimeline.first { $0.phase == request.phase }
        let summaries = parameters.map { name -> Summary in
            let p = phase?.parameters.first { $0.parameter == name }
            return Summary(parameter: name, mean: p?.timeWeightedMean ?? p?.mean, standardDeviation: p?.standardDeviation,
                           minimum: p?.min, maximum: p?.max, inRangeShare: p?.inRangePct.map { $0 / 100 },
                           unmonitoredShare: p.map { $0.unmonitoredPct / 100 })
        }
        var reasons: [String] = []
        var informational = false
        if !f.archivedMonths.isEmpty {
            reasons.append("its samples of \(f.archivedMonths.joined(separator: ", ")) are archived: `pocare-control restore` them to compare it")
        }
        if !f.ended {
            reasons.append("running: the site has not recorded its end")
        } else if f.record == nil {
            reasons.append("the site's batch record has not been received")
        } else if !f.recordDifferences.isEmpty {
            reasons.append("the site's batch record fails verification: " + f.recordDifferences.joined(separator: "; "))
        }
        if let model = f.profile, model != profile {
            reasons.append("equipment model \(model), not \(profile) (models are never pooled)")
        }
        if f.record != nil && phase == nil {
            reasons.append("the batch record has no phase \(request.phase)")
        }
        if !f.specReleased {
            reasons.append("the spec was not released (or was retired) when the batch ran")
        }
        let unmonitored = summaries.compactMap(\.unmonitoredShare).max() ?? 0
        if phase != nil, unmonitored > request.settings.maximumUnmonitoredShare {
            reasons.append("unmonitored \(TieredAssessment.percent(unmonitored)) of the phase "
                           + "(at most \(TieredAssessment.percent(request.settings.maximumUnmonitoredShare)))")
        }
        if f.site == request.reference, !f.certified {
            reasons.append("not certified (a reference batch counts once a QP certified it)")
        }
        if reasons.isEmpty, !f.nonconformities.isEmpty {
            reasons.append(contentsOf: f.nonconformities.map { "nonconforming: \($0)" })
            informational = request.includeNonconforming
        }
        return Batch(
            site: f.site, device: f.device, batch: f.batch, role: f.siteRole, first: f.first, last: f.last, recordStream: f.recordStream,
            recordSeq: f.recordSeq, recordHash: f.recordHash, certifiedBy: f.certifiedBy, startingMaterial: f.startingMaterial,
            phaseStart: period?.from, phaseDurationS: phase?.durationS,
            status: reasons.isEmpty ? .included : informational ? .forInformation : .excluded, reasons: reasons,
            parameters: summaries, trajectories: [:])
    }

    /// The yearly check compares pairs: a test batch without a reference batch from the same
    /// starting material is not part of it.
    static func pairExclusions(_ batches: [Batch], request: ComparisonRequest) -> [Batch] {
        guard request.kind == .yearly else { return batches }
        let materials = Set(batches.filter { $0.site == request.reference && $0.status == .included }.compactMap(\.startingMaterial))
        return batches.map { b in
            guard b.site != request.reference, b.status == .included, !materials.contains(b.startingMaterial ?? "\u{0}") else { return b }
            var b = b
            b.status = .excluded
            b.reasons.append(b.startingMaterial == nil
                ? "no starting material recorded (the yearly check pairs batches from one split source)"
                : "no included reference batch from starting material \(b.startingMaterial!)")
            return b
        }
    }
}
