import ControlSiteLink
import POCareContract
import Foundation
import SiteStore
import Testing

/// The replay request is the one thing the Control Site can send a site: whatever it holds is
/// read without a trap, and anything but a small, exact request is refused with the reason.
@Suite("Replay requests from the Control Site")
struct ReplayRequestTests {
    func parse(_ text: String) -> Result<ReplayRequest, ReplayRefusal> { ReplayRequest.parse(Array(text.utf8)) }

    @Test("a well-formed request names its stream, epoch and range")
    func accepted() throws {
        let request = try parse(#"{"id":"qa-1","stream":"rocker-1/telemetry","epoch":"e1","from":120,"to":130}"#).get()
        #expect(request == ReplayRequest(id: "qa-1", stream: .telemetry(device: "rocker-1"), epoch: "e1", from: 120, to: 130))
    }

    @Test("largest, smallest, negative, non-integer, wrong-typed and oversized values are refused, never trapped on",
          arguments: [
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":0,"to":5}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":-5,"to":5}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":9,"to":5}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":1,"to":9223372036854775807}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":1e300,"to":1e301}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":1.5,"to":3}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":"1","to":"3"}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":1,"to":100001}"#,
              #"{"id":"a","stream":"../../etc","epoch":"e","from":1,"to":2}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","from":1,"to":2}"#,
              #"{"id":"a","stream":"rocker-1/telemetry","epoch":"e","from":1,"to":2,"delete":true}"#,
              #"[1,2,3]"#, #"not json"#, "",
          ])
    func refused(text: String) {
        guard case .failure(let refusal) = parse(text) else {
            Issue.record("accepted: \(text)")
            return
        }
        #expect(!refusal.reason.isEmpty)
    }

    @Test("a request larger than 1 KiB is refused before it is read")
    func oversized() {
        let padding = String(repeating: "x", count: 2000)
        guard case .failure(let refusal) = parse(#"{"id":"\#(padding)"}"#) else { Issue.record("accepted"); return }
        #expect(refusal.reason.contains("larger than"))
    }
}
