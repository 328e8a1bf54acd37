import ControlSiteRecords
import POCareContract
import ControlSiteLink
import Foundation
import SiteStore
import Testing
import TestSupport

/// The Control Site reads the site's answers as the site writes them (`Contract.replayStatus`)
/// and asks in the form the site reads (`ReplayRequest.parse`).
@Suite("Replay requests and answers between the Control Site and a site")
struct ReplayAnswerTests {
    let epoch = String(repeating: "3f", count: 16)
    var request: ReplayRequest { ReplayRequest(id: "control-1-a1b2", stream: .telemetry(device: "rocker-1"), epoch: epoch, from: 41, to: 60) }

    func answer(_ state: String, reason: String? = nil, pruned: Int64? = nil, sending: ClosedRange<Int64>? = nil) throws -> ReplayAnswer {
        try ReplayAnswer.parse(site: "site-a", payload: Contract.replayStatus(
            site: "site-a", epoch: epoch, request: request, state: state, reason: reason, prunedThrough: pruned, sending: sending))
    }

    @Test("a request the Control Site sends is one the site reads back unchanged")
    func requestRoundTrip() throws {
        #expect(try ReplayRequest.parse(request.payload).get() == request)
        let awkward = ReplayRequest(id: "a\"b\\c", stream: .audit, epoch: epoch, from: 1, to: ReplayRequest.maxRecords)
        #expect(try ReplayRequest.parse(awkward.payload).get() == awkward)
    }

    @Test("accepted names what will be sent, done closes it; a site's reasons tell busy and nothing-new from final refusals")
    func outcomes() throws {
        let accepted = try answer("accepted", sending: 41...60)
        #expect(accepted.outcome == .accepted && accepted.sending == 41...60 && accepted.id == request.id && accepted.stream == "rocker-1/telemetry")
        #expect(try answer("done").outcome == .done)
        #expect(try answer("refused", reason: "too many replay requests; ask again later").outcome == .busy)
        // A site that could not prove the request the Control Site's said nothing of the records: asked again.
        #expect(try answer("refused", reason: "not proven to be the Control Site's request: it carries no signature").outcome == .busy)
        #expect(try answer("refused", reason: "not committed yet: the last record of rocker-1/telemetry is 40").outcome == .nothingNew)
        #expect(try answer("refused", reason: "the store's epoch is 00, not 3f: its sequence numbers are another series").outcome == .refused)
        #expect(try answer("refused", reason: "no stream rocker-1/telemetry at this site").outcome == .refused)
    }

    @Test("pruned_through says which part of the asked range the site no longer holds, in an acceptance or a refusal")
    func pruned() throws {
        let partly = try answer("accepted", reason: "41...50 was pruned", pruned: 50, sending: 51...60)
        #expect(partly.prunedRange == 41...50 && partly.outcome == .accepted)
        let wholly = try answer("refused", reason: "the range was pruned: the store holds rocker-1/telemetry from 61", pruned: 60)
        #expect(wholly.prunedRange == 41...60 && wholly.outcome == .refused)
        #expect(try answer("accepted", sending: 41...60).prunedRange == nil)
    }

    @Test("anything that is not an answer to a readable request is refused with the reason, never a crash")
    func hostile() {
        let bad: [String] = [
            "", "null", "[]", "{", "{\"schema\":\"pocare/v1/replay_status\"}",
            #"{"schema":"pocare/v1/replay_status","site":"site-a","request":null,"state":"refused","reason":"not a JSON object"}"#,
            #"{"schema":"pocare/v1/telemetry","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":2},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","site":"site-b","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":2},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":0,"to":2},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":5,"to":2},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":1e300},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":-1,"to":2},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":"2"},"state":"done"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":2},"state":"maybe"}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":2},"state":"accepted","sending":{"from":9,"to":3}}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":2},"state":"refused","pruned_through":-4}"#,
            #"{"schema":"pocare/v1/replay_status","request":{"id":"x","stream":"audit","epoch":"e","from":1,"to":9223372036854775807},"state":"done"}"#,
        ]
        for text in bad {
            #expect(throws: ReplayAnswer.Unreadable.self, "\(text)") { try ReplayAnswer.parse(site: "site-a", payload: Array(text.utf8)) }
        }
    }
}
