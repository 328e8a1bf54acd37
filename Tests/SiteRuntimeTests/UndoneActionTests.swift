import ControlAPI
import Foundation
import SiteRuntime
import SiteStore
import Testing

@Suite("An operator's action whose effect another event undoes says so")
struct UndoneActionTests {
    @Test("the end of a batch lifts its shelves and latches: its answer and its audit entry name each one")
    func batchEndLiftsShelves() async throws {
        try await RuntimeFixture.with { site in
            for _ in 0..<4 { site.poll(temperature: 38.4) }
            let shelved = await site.send(.shelve(ShelveAction(alarm: "rocker-1/temperature/limit", duration: "2h", reason: "heater service")))
            #expect(shelved.ok, "\(shelved)")
            let answer = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete")))
            guard case .batch(let ended)? = answer.result else { Issue.record("\(answer)"); return }
            #expect(ended.notes == ["the shelve of rocker-1/temperature/limit is lifted: batch RT-1 ended"])
            let entry = try #require(try await site.auditActions().last { $0.action.action == "batch.end" })
            #expect(entry.action.newValue == "the shelve of rocker-1/temperature/limit is lifted: batch RT-1 ended")
        }
    }

    @Test("an acknowledgement of an alarm that had already cleared says it is back to normal, in the answer and the audit trail")
    func acknowledgeCleared() async throws {
        try await RuntimeFixture.with { site in
            for _ in 0..<4 { site.poll(temperature: 38.4) }
            for _ in 0..<20 { site.poll(temperature: 37) }
            let answer = await site.send(.acknowledge(AlarmAction(alarm: "rocker-1/temperature/limit", reason: "seen")))
            guard case .alarmAction(let result)? = answer.result else { Issue.record("\(answer)"); return }
            #expect(result.state == "normal" && result.note?.contains("had already cleared") == true, "\(result)")
            let entry = try #require(try await site.auditActions().last { $0.action.action == "alarm.acknowledge" })
            #expect(entry.action.newValue == "normal (the alarm had cleared)")
        }
    }

    @Test("a batch id names one run: it is not used again on any device")
    func batchIdOnce() async throws {
        try await RuntimeFixture.with { site in
            _ = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete")))
            let spec = try #require(site.daemon.site.devices[0].batch?.spec.fingerprint)
            let again = await site.send(.batchStart(BatchStart(device: "rocker-1", batch: "RT-1", spec: spec, manualPhase: true, reason: "again")))
            #expect(again.error?.code == .refused && again.error?.message.contains("was used before at this site") == true, "\(again)")
        }
    }
}
