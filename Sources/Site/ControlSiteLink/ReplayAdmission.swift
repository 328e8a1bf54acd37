import Foundation
import Hashing
import POCareContract
import POCareCore

/// Who may have the site replay, and how often: the Control Site's signed requests on a quota
/// of their own, anyone else's (when the site answers them at all) on a smaller, separate one,
/// so no flood of requests, forged or not, makes the site answer the Control Site "busy".
///
/// A site cannot see who published an MQTT message, so a request is the Control Site's only when
/// the Control Site's key signed it for this site (`SignedReplayRequest`). A signed request is
/// taken once: its id is remembered, and one signed much earlier than the newest seen is stale,
/// so a captured request published again spends nothing. All on the link thread.
final class ReplayAdmission {
    struct Policy: Sendable {
        /// The Control Site's public key; without it no request is the Control Site's.
        var controlSiteKey: Ed25519.PublicKey?
        /// Whether requests not proven to be the Control Site's are answered (on their own quota).
        var answerOthers = false
    }

    /// A request as it arrived, read and placed.
    enum Arrival {
        case controlSite(ReplayRequest)
        /// Not proven to be the Control Site's: unsigned, or signed by another key. `refusal` is
        /// why it is refused whatever the quota (a signature that does not hold, or the site's
        /// policy); nil when it may be answered on the other requesters' quota.
        case other(ReplayRequest, refusal: String?)
        /// A repeat of a signed request already taken, or one signed long before the newest: dropped.
        case repeated
        case malformed(String)
    }

    /// A token bucket: `burst` at most, `perSecond` added back.
    struct Quota {
        let burst: Double
        let perSecond: Double
        private var tokens: Double
        private var at: Int64

        init(burst: Double, perSecond: Double) {
            self.burst = burst
            self.perSecond = perSecond
            tokens = burst
            at = MonotonicClock.now()
        }

        mutating func take(now: Int64 = MonotonicClock.now()) -> Bool {
            tokens = min(burst, tokens + Double(max(0, now - at)) / 1e9 * perSecond)
            at = now
            guard tokens >= 1 else { return false }
            tokens -= 1
            return true
        }
    }

    /// The Control Site's requests: a burst covers a tail request for every stream of a site at once.
    static let controlSiteQuota = (burst: 16.0, perSecond: 2.0)
    /// Anyone else's: a few, slowly.
    static let otherQuota = (burst: 2.0, perSecond: 0.1)
    /// Answers to requests not proven to be the Control Site's (refusals and "busy" alike): a flood
    /// is not answered message for message.
    static let otherAnswers = (burst: 5.0, perSecond: 1.0)
    /// Replays queued at most, per kind of requester.
    static let controlSiteQueue = 8
    static let otherQueue = 1
    /// A signed request this much older than the newest signed one seen is stale.
    static let staleAfterNanoseconds: Int64 = 600_000_000_000
    static let rememberedIds = 4096

    /// How every refusal for want of proof begins, so a requester tells it from a final refusal
    /// (the range is still there; the request was not proven to be the Control Site's).
    static let unproven = "not proven to be the Control Site's request: "

    let policy: Policy
    let site: String
    var controlSite = Quota(burst: controlSiteQuota.burst, perSecond: controlSiteQuota.perSecond)
    var others = Quota(burst: otherQuota.burst, perSecond: otherQuota.perSecond)
    var answersToOthers = Quota(burst: otherAnswers.burst, perSecond: otherAnswers.perSecond)
    private var newestSigned: Int64 = 0
    private var seenIds: Set<String> = []
    private var seenOrder: [String] = []

    init(policy: Policy, site: String) {
        self.policy = policy
        self.site = site
    }

    /// Reads a request and says whose it is, as far as it can be proven.
    func classify(_ payload: [UInt8], wallClockNanoseconds now: Int64 = Int64(Date().timeIntervalSince1970 * 1e9)) -> Arrival {
        let request: ReplayRequest
        switch ReplayRequest.parse(payload) {
        case .failure(let refusal): return .malformed(refusal.reason)
        case .success(let parsed): request = parsed
        }
        let proof: SignedReplayRequest.Proof
        switch SignedReplayRequest.read(payload) {
        case .malformed(let reason): return .other(request, refusal: Self.unproven + "the request's signature cannot be read: \(reason)")
        case .unsigned: return .other(request, refusal: unprovenRefusal("it is not signed"))
        case .signed(let signed): proof = signed
        }
        // Without a key to check it against, a signature proves nothing: the request is anyone's.
        guard let key = policy.controlSiteKey else { return .other(request, refusal: unprovenRefusal("its signature cannot be checked")) }
        guard proof.isSigned(by: key) else {
            return .other(request, refusal: Self.unproven + "signed by \(proof.key), which is not the Control Site's key this site holds (control_site.control_site_key), or the signature does not hold")
        }
        guard proof.site == site else { return .other(request, refusal: Self.unproven + "signed for site '\(proof.site.prefix(80))', not this one") }
        guard proof.signedNanoseconds >= newestSigned - Self.staleAfterNanoseconds, !seenIds.contains(request.id) else { return .repeated }
        // A Control Site clock far ahead does not make later requests stale for long.
        newestSigned = max(newestSigned, min(proof.signedNanoseconds, now + Self.staleAfterNanoseconds))
        remember(request.id)
        return .controlSite(request)
    }

    private func unprovenRefusal(_ what: String) -> String? {
        if policy.answerOthers { return nil }
        let how = policy.controlSiteKey == nil
            ? "this site holds no Control Site key (control_site.control_site_key)"
            : "only requests signed by the Control Site's key are answered"
        return Self.unproven + "\(what): \(how) (control_site.unsigned_replay: refuse)"
    }

    private func remember(_ id: String) {
        seenIds.insert(id)
        seenOrder.append(id)
        if seenOrder.count > Self.rememberedIds {
            let forgotten = seenOrder.count - Self.rememberedIds / 2
            for id in seenOrder[..<forgotten] { seenIds.remove(id) }
            seenOrder.removeFirst(forgotten)
        }
    }
}
