import ControlAPI
import POCareContract
import Foundation
import Testing

@Suite("The control protocol's wire form")
struct ControlProtocolTests {
    func line(_ text: String) -> [UInt8] { Array(text.utf8) }

    func roundTrip(_ command: ControlCommand) throws -> ControlCommand? {
        let data = try JSONEncoder.control.encode(ControlRequest(command, id: "1"))
        guard case .request(let request) = ControlRequest.decode(line: Array(data)) else { return nil }
        return request.command
    }

    @Test("every command survives encoding and decoding with its arguments")
    func everyCommandRoundTrips() throws {
        let commands: [ControlCommand] = [
            .status, .reload(reason: "CC-1"), .reload(reason: nil), .devices, .values(device: "rocker-1"),
            .alarms(AlarmQuery(history: true, device: "str-1", limit: 5)), .acknowledge(AlarmAction(alarm: "a/b/limit", reason: "r")),
            .shelve(ShelveAction(alarm: "a/b/limit", duration: "30m", reason: "r")), .unshelve(AlarmAction(alarm: "a/b/limit", reason: "r")),
            .batchStart(BatchStart(device: "d", batch: "B", spec: "s.yaml", phase: "p", followDevicePhase: true, reason: "r")),
            .batchPhase(BatchPhaseChange(device: "d", phase: "p", reason: "r")), .batchEnd(BatchEnd(device: "d", reason: "r")), .batchList,
            .batchReport(batch: "B"), .batchPublish(batch: "B"), .auditVerify, .verify, .reset(AlarmAction(alarm: "a/b/discrete", reason: "r")),
            .outOfService(ServiceAction(target: "a", reason: "r")), .inService(ServiceAction(target: "a/b/limit", reason: "r")),
            .auditShow(AuditQuery(user: "alice", action: "batch.*", since: Date(timeIntervalSince1970: 1_800_000_000), last: 3)),
            .specs,
            .batchPhase(BatchPhaseChange(device: "rocker-1", phase: "harvest", stopFollowingDevice: true, reason: "probe fault")),
            .batchStart(BatchStart(device: "rocker-1", batch: "B-2", spec: "d1f4f504f885", manualPhase: true, reason: "r")),
        ]
        #expect(Set(commands.map(\.name)) == Set(ControlCommand.Name.allCases), "the list covers every command")
        for command in commands { #expect(try roundTrip(command) == command) }
    }

    @Test("arguments travel as typed JSON: booleans, numbers, snake_case names")
    func typedArguments() throws {
        let data = try JSONEncoder.control.encode(ControlRequest(.batchStart(BatchStart(device: "d", batch: "B", spec: "s", followDevicePhase: true, reason: "r"))))
        let text = String(decoding: data, as: UTF8.self)
        #expect(text == #"{"args":{"batch":"B","device":"d","follow_device_phase":true,"manual_phase":false,"reason":"r","spec":"s"},"command":"batch.start","v":1}"#)
        guard case .request(let request) = ControlRequest.decode(line: line(#"{"v":1,"command":"alarms","args":{"history":true,"limit":3}}"#)),
              case .alarms(let query) = request.command
        else { Issue.record("not decoded"); return }
        #expect(query.history && query.limit == 3 && query.device == nil)
    }

    @Test("a bad request is answered with what is wrong, and with its id")
    func rejections() {
        func rejection(_ text: String) -> ControlResponse? {
            if case .rejected(let response) = ControlRequest.decode(line: line(text)) { return response }
            return nil
        }
        #expect(rejection("this is not json")?.error?.code == .badRequest)
        let unknown = rejection(#"{"v":1,"id":"9","command":"launch-rocket"}"#)
        #expect(unknown?.error?.code == .unknownCommand && unknown?.id == "9" && unknown?.error?.message.contains("batch.report") == true)
        let missing = rejection(#"{"v":1,"command":"ack","args":{"alarm":"a/b/limit"}}"#)
        #expect(missing?.error?.code == .badRequest && missing?.error?.message.contains("reason") == true)
        let wrongType = rejection(#"{"v":1,"command":"alarms","args":{"history":"true"}}"#)
        #expect(wrongType?.error?.code == .badRequest && wrongType?.error?.message.contains("history") == true)
        #expect(rejection(#"{"v":2,"command":"status"}"#)?.error?.code == .unsupportedVersion)
        #expect(rejection(#"{"v":1,"command":"values"}"#)?.error?.code == .badRequest, "values needs its device")
        let noReason = rejection(#"{"v":1,"command":"batch.end","args":{"device":"d"}}"#)
        #expect(noReason?.error?.code == .badRequest && noReason?.error?.message.contains("reason") == true)
        for optional in [#"{"v":1,"command":"alarms"}"#, #"{"v":1,"command":"audit.show","args":{}}"#, #"{"v":1,"command":"reload"}"#] {
            #expect(rejection(optional) == nil, "\(optional): every argument is optional")
        }
    }

    @Test("a result names its kind and decodes back to the same value")
    func resultsRoundTrip() throws {
        let values = DeviceValues(
            device: "rocker-1", time: "2026-11-25T08:00:00.250Z", batch: "B", phase: "expansion", spec: nil,
            values: [
                .init(parameter: "temperature", name: "T", unit: "Cel", quality: "good", value: .number(37.2), label: nil,
                      limits: Limits(alertLow: 36.5, alertHigh: 37.5, actionLow: nil, actionHigh: 38, target: 37)),
                .init(parameter: "running", name: "R", unit: "", quality: "good", value: .flag(true), label: nil, limits: nil),
                .init(parameter: "serial", name: "S", unit: "", quality: "good", value: .text("SN1"), label: nil, limits: nil),
            ])
        let response = ControlResponse.success(id: "3", .values(values))
        let text = response.encoded()
        #expect(text.contains(#""result":{"values":{"#) && text.contains(#""alert_high":37.5"#))
        let decoded = try JSONDecoder.control.decode(ControlResponse.self, from: Data(text.utf8))
        guard case .values(let back)? = decoded.result else { Issue.record("kind lost"); return }
        #expect(back == values && decoded.id == "3" && decoded.ok)
        let failure = ControlResponse.failure(id: nil, .refused, "no")
        #expect(failure.encoded() == #"{"error":{"code":"refused","message":"no"},"ok":false,"v":1}"#)
    }
}
