@testable import ControlSiteLink
import Foundation
import Hashing
import POCareContract
import Testing

/// Who may have a site replay: the Control Site by its signature, anyone else on a smaller quota
/// of their own or not at all. Pure code: the signatures are real Ed25519 from libcrypto.
@Suite("Replay requests are told apart by the Control Site's signature")
struct ReplayAdmissionTests {
    let controlSite = try! Ed25519.PrivateKey.generate()
    let impostor = try! Ed25519.PrivateKey.generate()

    func request(_ id: String, to: Int64 = 5) -> [UInt8] {
        ReplayRequest(id: id, stream: .telemetry(device: "rocker-1"), epoch: "e1", from: 1, to: to).payload
    }

    func signed(_ payload: [UInt8], by key: Ed25519.PrivateKey? = nil, site: String = "site-a", at time: Date = Date()) throws -> [UInt8] {
        try SignedReplayRequest.sign(payload, site: site, with: key ?? controlSite, at: time)
    }

    func admission(answerOthers: Bool = false) throws -> ReplayAdmission {
        ReplayAdmission(policy: .init(controlSiteKey: try controlSite.publicKey(), answerOthers: answerOthers), site: "site-a")
    }

    func refusal(_ arrival: ReplayAdmission.Arrival) -> String? {
        if case .other(_, let refusal) = arrival { return refusal }
        return "not placed with the others: \(arrival)"
    }

    @Test("a request signed by the Control Site's key for this site is the Control Site's, and still reads as the request it signs")
    func controlSiteSigned() throws {
        let payload = try signed(request("cs-1"))
        #expect(try ReplayRequest.parse(payload).get() == ReplayRequest(id: "cs-1", stream: .telemetry(device: "rocker-1"), epoch: "e1", from: 1, to: 5))
        guard case .controlSite(let taken) = try admission().classify(payload) else { Issue.record("not the Control Site's"); return }
        #expect(taken.id == "cs-1")
    }

    @Test("unsigned, signed by another key, signed for another site, or changed after signing: not the Control Site's, refused with the reason by default")
    func unproven() throws {
        let gate = try admission()
        #expect(refusal(gate.classify(request("u")))?.contains("it is not signed") == true)
        #expect(refusal(gate.classify(try signed(request("i"), by: impostor)))?.contains("not the Control Site's key") == true)
        #expect(refusal(gate.classify(try signed(request("s"), site: "site-b")))?.contains("signed for site 'site-b'") == true)
        let tampered = String(decoding: try signed(request("t")), as: UTF8.self).replacingOccurrences(of: "\"to\":5", with: "\"to\":99")
        #expect(refusal(gate.classify(Array(tampered.utf8)))?.contains("the signature does not hold") == true)
        let garbled = String(decoding: try signed(request("g")), as: UTF8.self).replacingOccurrences(of: "\"signed_ns\":", with: "\"signed_ns\":-")
        #expect(refusal(gate.classify(Array(garbled.utf8)))?.contains("signature cannot be read") == true)
        // A site that answers others: unsigned requests may be served, forged signatures never.
        let open = try admission(answerOthers: true)
        #expect(refusal(open.classify(request("u"))) == nil)
        #expect(refusal(open.classify(try signed(request("i"), by: impostor))) != nil)
    }

    @Test("a signed request published again, or one signed long before the newest, spends nothing")
    func repeatsAndStale() throws {
        let gate = try admission()
        let payload = try signed(request("cs-1"))
        guard case .controlSite = gate.classify(payload) else { Issue.record("first"); return }
        guard case .repeated = gate.classify(payload) else { Issue.record("a repeat was taken"); return }
        let old = try signed(request("cs-old"), at: Date().addingTimeInterval(-11 * 60))
        guard case .repeated = gate.classify(old) else { Issue.record("a stale request was taken"); return }
        let recent = try signed(request("cs-2"), at: Date().addingTimeInterval(-60))
        guard case .controlSite = gate.classify(recent) else { Issue.record("a request a minute old is not stale"); return }
    }

    @Test("malformed requests are malformed whoever signed them")
    func malformed() throws {
        guard case .malformed = try admission().classify(Array("not json".utf8)) else { Issue.record("taken"); return }
        let extra = Array(#"{"id":"x","stream":"rocker-1/telemetry","epoch":"e1","from":1,"to":5,"delete":true}"#.utf8)
        guard case .malformed = try admission().classify(try signed(extra)) else { Issue.record("taken"); return }
    }

    @Test("each quota gives its burst, then refuses until time adds tokens back; the two are separate")
    func quotas() {
        let start: Int64 = 1_000_000_000
        var controlSite = ReplayAdmission.Quota(burst: 16, perSecond: 2)
        var others = ReplayAdmission.Quota(burst: 2, perSecond: 0.1)
        _ = controlSite.take(now: start)
        _ = others.take(now: start)
        var taken = 1
        while taken < 20, controlSite.take(now: start) { taken += 1 }
        #expect(taken == 16, "the burst, and no more")
        let afterBurst = controlSite.take(now: start)
        let othersSecond = others.take(now: start), othersThird = others.take(now: start)
        let halfSecondLater = controlSite.take(now: start + 500_000_000)
        let fiveSecondsLater = others.take(now: start + 5_000_000_000)
        let tenSecondsLater = others.take(now: start + 10_000_000_000)
        #expect(!afterBurst)
        #expect(othersSecond && !othersThird)
        #expect(halfSecondLater, "half a second gives one back at 2 a second")
        #expect(!fiveSecondsLater, "five seconds are half a token at 0.1 a second")
        #expect(tenSecondsLater)
    }
}
