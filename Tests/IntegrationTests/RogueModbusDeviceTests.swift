import Acquisition
import Foundation
import POCareCore
import Testing
import TestSupport

/// A device whose replies break the Modbus/TCP rules never gets its bytes taken as values:
/// every such reply is discarded and counted as bad communication, and the link is reopened.
@Suite("A rogue Modbus device")
struct RogueModbusDeviceTests {
    static let profile = DeviceProfile(
        id: "rogue", vendor: "test", model: "rogue", firmware: "any",
        modbus: ModbusDefaults(unitId: 7, responseTimeout: .milliseconds(300)),
        parameters: [
            Parameter(id: "level", name: "Level", unit: "1", table: .holdingRegister, address: 0, dataType: .uint16),
            Parameter(id: "flow", name: "Flow", unit: "1", table: .holdingRegister, address: 1, dataType: .uint16),
        ])

    /// Polls the server for a few cycles and returns what the poller made of it.
    func poll(_ behaviour: @escaping RogueModbusServer.Behaviour) async throws -> [Sample] {
        let server = try RogueModbusServer(behaviour: behaviour)
        defer { server.stop() }
        let collector = SampleCollector()
        let settings = DevicePoller.Settings(
            deviceId: "rogue", profile: Self.profile, host: "127.0.0.1", port: server.port, unitId: 7,
            interval: .milliseconds(100), reconnectBackoff: .milliseconds(20)...(.milliseconds(50)))
        let poller = DevicePoller(settings: settings) { collector.record($0) }
        poller.start()
        let enough = await collector.wait { $0.count >= 4 && server.requestsServed >= 2 }
        poller.stop()
        #expect(enough, "the poller kept its schedule")
        return collector.all
    }

    func expectDiscarded(_ samples: [Sample], _ comment: Comment) {
        let readings = samples.flatMap(\.readings)
        #expect(!readings.isEmpty)
        #expect(readings.allSatisfy { $0.quality == .badCommunication && $0.value == nil }, comment)
    }

    @Test("an honest reply is read as good values (the server itself is sound)")
    func honest() async throws {
        let samples = try await poll { _, honest in .frame(honest) }
        let last = try #require(samples.last)
        #expect(last.readings.allSatisfy { $0.quality == .good && $0.value == .number(Double(RogueModbusServer.registerValue)) })
    }

    @Test("a reply from another unit id is discarded")
    func wrongUnit() async throws {
        expectDiscarded(try await poll { _, honest in var f = honest; f[6] = 8; return .frame(f) }, "unit id 8 for 7")
    }

    @Test("a reply with protocol id 1 is discarded")
    func wrongProtocol() async throws {
        expectDiscarded(try await poll { _, honest in var f = honest; f[3] = 1; return .frame(f) }, "protocol id 1")
    }

    @Test("a reply with another transaction id is discarded")
    func wrongTransaction() async throws {
        expectDiscarded(try await poll { _, honest in var f = honest; f[1] &+= 1; return .frame(f) }, "transaction id")
    }

    @Test("a reply whose MBAP length disagrees with its data is discarded, longer or shorter")
    func lyingLength() async throws {
        expectDiscarded(try await poll { _, honest in var f = honest; f[5] &+= 2; return .frame(f + [0, 0]) }, "longer")
        expectDiscarded(try await poll { _, honest in var f = honest; f[5] &-= 1; return .frame(f) }, "shorter")
    }

    @Test("a reply with another function code or byte count is discarded")
    func wrongFunctionOrCount() async throws {
        expectDiscarded(try await poll { _, honest in var f = honest; f[7] = 4; return .frame(f) }, "function code 4 for 3")
        expectDiscarded(
            try await poll { _, honest in
                // Byte count and MBAP length agree with each other, but carry one register less than asked.
                var f = Array(honest.dropLast(2)); f[8] &-= 2; f[5] &-= 2; return .frame(f)
            }, "one register short")
    }

    @Test("a frame cut short, a reset, silence, or bytes dribbled out past the timeout are bad communication")
    func brokenTransport() async throws {
        expectDiscarded(try await poll { _, honest in .frame(Array(honest.prefix(5))) }, "cut short")
        expectDiscarded(try await poll { _, _ in .reset }, "reset")
        expectDiscarded(try await poll { _, _ in .close }, "closed")
        expectDiscarded(try await poll { _, _ in .silence }, "silence")
        expectDiscarded(try await poll { _, honest in .slowly(honest, perByte: .milliseconds(60)) }, "slow bytes")
    }

    @Test("random garbage in place of a reply is never read as a value")
    func garbage() async throws {
        expectDiscarded(
            try await poll { request, _ in
                var generator = SystemRandomNumberGenerator()
                let length = Int.random(in: 0...40, using: &generator)
                var frame = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                // Keep the header plausible now and then, so the checks past it are reached.
                if frame.count > 7, Bool.random() { frame.replaceSubrange(0..<2, with: request[0..<2]) }
                return .frame(frame)
            }, "garbage")
    }
}
