import Acquisition
import POCareCore
import Testing

@Suite("Modbus/TCP reply checks")
struct ModbusReplyTests {
    let request = ModbusReadRequest(unitId: 7, range: AddressRange(table: .holdingRegister, start: 10, count: 2))

    /// tid 0, protocol 0, length 7, unit 7, function 3, 4 bytes of data.
    var good: [UInt8] { [0, 0, 0, 0, 0, 7, 7, 3, 4, 0x12, 0x34, 0x56, 0x78] }

    @Test("a reply that agrees with its request in every field yields its data")
    func accepted() {
        #expect(ModbusReply.check(good, against: request) == .success(9))
    }

    @Test("each header field that disagrees is named")
    func rejected() {
        func with(_ index: Int, _ value: UInt8) -> [UInt8] { var f = good; f[index] = value; return f }
        #expect(ModbusReply.check(with(1, 9), against: request) == .failure(.transactionId(got: 9, expected: 0)))
        #expect(ModbusReply.check(with(3, 1), against: request) == .failure(.protocolId(1)))
        #expect(ModbusReply.check(with(2, 1), against: request) == .failure(.protocolId(256)))
        #expect(ModbusReply.check(with(5, 9), against: request) == .failure(.lengthField(says: 9, actual: 7)))
        #expect(ModbusReply.check(with(6, 8), against: request) == .failure(.unitId(got: 8, expected: 7)))
        #expect(ModbusReply.check(with(7, 4), against: request) == .failure(.functionCode(got: 4, expected: 3)))
        #expect(ModbusReply.check(Array(good.prefix(8)), against: request) == .failure(.tooShort(length: 8)))
    }

    @Test("a byte count other than the request needs is refused, even when the length field agrees")
    func byteCount() {
        let short: [UInt8] = [0, 0, 0, 0, 0, 5, 7, 3, 2, 0x12, 0x34]
        #expect(ModbusReply.check(short, against: request) == .failure(.byteCount(got: 2, expected: 4)))
    }

    @Test("an exception reply is the device's answer, with its code")
    func exception() {
        let frame: [UInt8] = [0, 0, 0, 0, 0, 3, 7, 0x83, 2]
        #expect(ModbusReply.check(frame, against: request) == .failure(.exception(code: 2)))
        #expect(ModbusReplyProblem.exception(code: 2).error.quality == .badDevice)
        #expect(ModbusReplyProblem.unitId(got: 1, expected: 7).error.quality == .badCommunication)
    }

    @Test("bit tables expect one byte per eight bits")
    func bits() {
        let coils = ModbusReadRequest(unitId: 1, range: AddressRange(table: .coil, start: 0, count: 9))
        #expect(coils.expectedByteCount == 2)
        #expect(coils.pdu == [1, 1, 0, 0, 0, 9])
        let frame: [UInt8] = [0, 0, 0, 0, 0, 5, 1, 1, 2, 0xFF, 0x01]
        #expect(ModbusReply.check(frame, against: coils) == .success(9))
    }
}
