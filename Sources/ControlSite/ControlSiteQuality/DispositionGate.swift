import ControlSiteRecords
import Foundation

/// What must be true before a batch may be signed, as a list of named checks: each says for
/// which meanings it holds and, when it fails, why. The server runs every check that applies
/// in the signing transaction; more checks join the list as the facts they need exist
/// (disputed records, signed chain segments).
public struct DispositionGate: Sendable {
    public struct Context: Sendable {
        public var review: BatchReview
        public var meaning: Disposition.Meaning
        public var signer: WebUsers.User
        /// The record hash the signer was shown.
        public var shownHash: String
        public var settings: QualitySettings
        public var inMasterFile: Bool
        /// The batch's chain segments and whether a checkpoint the site signed covers each.
        public var chainSegments: [ChainSegment]

        public init(review: BatchReview, meaning: Disposition.Meaning, signer: WebUsers.User, shownHash: String, settings: QualitySettings,
                    inMasterFile: Bool, chainSegments: [ChainSegment]) {
            self.chainSegments = chainSegments
            self.review = review
            self.meaning = meaning
            self.signer = signer
            self.shownHash = shownHash
            self.settings = settings
            self.inMasterFile = inMasterFile
        }
    }

    public struct Check: Sendable {
        public var name: String
        public var meanings: Set<Disposition.Meaning>
        /// How a failure is refused.
        public var kind: QualityRefusal.Kind
        /// nil when the check passes; else why not.
        public var failure: @Sendable (Context) -> String?
    }

    public struct Failure: Sendable, Codable, Equatable {
        public var check: String
        public var reason: String
    }

    static let all = Set(Disposition.Meaning.allCases)
    static let qp: Set<Disposition.Meaning> = [.certified, .rejected]

    /// Every check, in the order the refusal names them.
    public static let checks: [Check] = [
        Check(name: "record_unchanged", meanings: all, kind: .recordChanged) { c in
            HashPrefix.names(c.review.recordHash, c.shownHash) ? nil
                : "the record changed since you opened it: it now has SHA-256 \(c.review.recordHash.prefix(12)); reload the page and review it again"
        },
        Check(name: "batch_ended", meanings: all, kind: .stateConflict) { c in
            c.review.status.ended ? nil
                : "the batch runs: the site's batch record of \(c.review.status.awaitingRecords.joined(separator: ", ")) has not arrived"
        },
        Check(name: "record_verified", meanings: all, kind: .stateConflict) { c in
            c.review.status.verified ? nil
                : "the site's batch record is not verified against the data held here (\(c.review.record.siteRecords.flatMap(\.differences).prefix(3).joined(separator: "; ")))"
        },
        Check(name: "no_disputed_records", meanings: all, kind: .stateConflict) { c in
            let open = c.review.record.disputes.filter { $0.resolved == nil }
            return open.isEmpty ? nil
                : "\(open.count) records of the batch are disputed (two differing copies arrived); QA decides which is the record first (pocare-control disputes)"
        },
        Check(name: "one_review", meanings: [.reviewed], kind: .stateConflict) { c in
            c.review.status.signatures.contains { $0.stands && $0.meaning == Disposition.Meaning.reviewed.rawValue }
                ? "a QA review of this record stands already" : nil
        },
        Check(name: "qa_review_first", meanings: qp, kind: .stateConflict) { c in
            c.review.status.signatures.contains { $0.stands && $0.meaning == Disposition.Meaning.reviewed.rawValue }
                ? nil : "QA reviews the record before the QP certifies or rejects it"
        },
        Check(name: "second_person", meanings: qp, kind: .notPermitted) { c in
            c.review.status.signatures.contains { $0.stands && $0.meaning == Disposition.Meaning.reviewed.rawValue && $0.userName == c.signer.userName }
                ? "you signed the QA review of this record; another QP certifies or rejects it" : nil
        },
        Check(name: "one_disposition", meanings: qp, kind: .stateConflict) { c in
            let standing = c.review.status.signatures.first { $0.stands && $0.meaning != Disposition.Meaning.reviewed.rawValue }
            return standing.map { "the batch is \($0.meaning) already (by \($0.fullName)); a certification is withdrawn before another disposition" }
        },
        Check(name: "no_open_deviations", meanings: [.certified], kind: .stateConflict) { c in
            let open = c.review.deviations.filter(\.isOpen)
            return open.isEmpty ? nil : "open deviations: \(open.map(\.reference).joined(separator: ", "))"
        },
        Check(name: "no_nonconformance", meanings: [.certified], kind: .stateConflict) { c in
            var reasons = c.review.record.nonconformances.map { "\($0.device.isEmpty ? "" : $0.device + ": ")\($0.reason)" }
            reasons += c.review.specs.filter { !$0.ok }.map { "spec \($0.document ?? $0.fingerprint): \($0.state)" }
            if !c.inMasterFile { reasons.append("the site is not in the POC Master File") }
            return reasons.isEmpty ? nil : "nonconformances: \(reasons.prefix(5).joined(separator: "; "))"
        },
        Check(name: "no_integrity_findings", meanings: [.certified], kind: .stateConflict) { c in
            let findings = c.review.record.openFindings
            return findings.isEmpty ? nil : "open integrity findings: \(findings.prefix(5).map { "\($0.kind) on \($0.stream)" }.joined(separator: "; "))"
        },
        Check(name: "chain_signed", meanings: [.certified], kind: .stateConflict) { c in
            // What the QP certifies is what the site committed: every record of the batch lies on
            // a chain segment a checkpoint signed by the site's registered key covers.
            let unsigned = c.chainSegments.filter { !$0.isCovered }
            guard !c.chainSegments.isEmpty else { return "no records of the batch lie on a site's hash chain" }
            return unsigned.isEmpty ? nil
                : "records not covered by a checkpoint the site signed: "
                    + unsigned.prefix(3).map { "\($0.stream) \($0.first)...\($0.last) (\($0.problem ?? "unsigned"))" }.joined(separator: "; ")
        },
        Check(name: "monitored", meanings: [.certified], kind: .stateConflict) { c in
            c.review.checks.first { $0.name == "monitored" }?.clean == false ? "the batch has no monitored time" : nil
        },
        Check(name: "unmonitored_time_covered", meanings: [.certified], kind: .stateConflict) { c in
            // Unmonitored time above the limit needs a closed deviation that covers it.
            let over = c.review.record.siteRecords.filter { ($0.record?.unmonitoredS ?? 0) > c.settings.unmonitoredLimitSeconds }
            guard !over.isEmpty else { return nil }
            let covered = c.review.deviations.contains { $0.source == "unmonitored_time" && $0.state == "closed" }
            return covered ? nil
                : "unmonitored time (\(over.map { "\($0.device) \(BatchReviewChecks.fmt($0.record?.unmonitoredS ?? 0)) s" }.joined(separator: ", "))) is not covered by a closed deviation"
        },
    ]

    /// The checks that fail for this signature.
    public static func failures(_ context: Context) -> [(Check, String)] {
        checks.filter { $0.meanings.contains(context.meaning) }.compactMap { check in check.failure(context).map { (check, $0) } }
    }
}
