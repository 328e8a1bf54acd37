import Foundation
import POCareConfig
import POCareCore
import Testing

@Suite("Device profiles: how the site watches a device")
struct MonitoringProfileTests {
    @Test("every measurement has a stale time: the profile's default, or its own; set points, states and strings have none")
    func staleTimes() throws {
        let text = validProfile.replacingOccurrences(of: "modbus:\n", with: """
            monitoring:
              stale_after: 15m
              stale_priority: low
              communication_loss_polls: 5
              communication_priority: critical
            modbus:

            """) + """

              - { id: dissolved_oxygen, unit: "%", table: input_register, address: 4, type: float32, stale_after: 90s }
              - { id: setpoint, unit: Cel, table: holding_register, address: 20, type: float32, writable: true }
            """
        let result = ProfileLoader.parse(text, file: "test.yaml")
        let profile = try #require(result.profile, "\(result.diagnostics)")
        #expect(profile.monitoring == DeviceMonitoring(
            staleAfter: .seconds(900), stalePriority: .low, communicationLossPolls: 5, communicationPriority: .critical))
        let stale = Dictionary(uniqueKeysWithValues: profile.parameters.map { ($0.id, profile.staleAfter($0)) })
        #expect(stale["temperature"] == .seconds(900) && stale["ph"] == .seconds(900) && stale["dissolved_oxygen"] == .seconds(90))
        #expect(stale["setpoint"] == .some(nil) && stale["running"] == .some(nil) && stale["door"] == .some(nil))
    }

    @Test("without a monitoring block a measurement is stale after an hour and a device lost after 3 polls, at high priority")
    func defaults() throws {
        let profile = try #require(ProfileLoader.parse(validProfile, file: "test.yaml").profile)
        #expect(profile.monitoring == DeviceMonitoring())
        #expect(profile.staleAfter(profile.parameter("temperature")!) == .seconds(3600))
        #expect(DeviceMonitoring().communicationPriority == .high && DeviceMonitoring().communicationLossPolls == 3)
    }

    @Test("bad monitoring settings are located errors")
    func errors() {
        func problems(_ monitoring: String, parameter: String = "") -> [String] {
            let text = validProfile.replacingOccurrences(of: "modbus:\n", with: "monitoring: \(monitoring)\nmodbus:\n") + parameter
            return diagnostics(text).map(\.description)
        }
        #expect(problems("{ stale_after: 0s }").contains { $0.contains("monitoring.stale_after") && $0.contains("above 0") })
        #expect(problems("{ stale_after: 8d }").isEmpty == false)
        #expect(problems("{ communication_loss_polls: 0 }").contains { $0.contains("monitoring.communication_loss_polls") })
        #expect(problems("{ communication_priority: urgent }").contains { $0.contains("unknown priority 'urgent'") })
        #expect(problems("{ stale: 1m }").contains { $0.contains("unknown key 'stale'") })
        #expect(problems("{}", parameter: "\n  - { id: state, table: holding_register, address: 30, type: uint16, enum: { 0: a }, stale_after: 1m }")
            .contains { $0.contains("parameters[5].stale_after") && $0.contains("enumerated state") })
    }

    @Test("the shipped example profiles set a stale time for their measurements")
    func shippedProfilesWatch() throws {
        for file in shippedProfileFiles {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("monitoring:") && text.contains("stale_after:"), "\(file)")
        }
    }
}
