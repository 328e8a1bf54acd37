import POCareCore

/// A read request as it goes on the wire after the MBAP header: unit id, function code,
/// starting address and quantity.
public struct ModbusReadRequest: Sendable, Equatable {
    public var unitId: UInt8
    public var range: AddressRange
    /// libmodbus sends raw requests with transaction id 0.
    public var transactionId: UInt16 = 0

    public init(unitId: UInt8, range: AddressRange) {
        self.unitId = unitId
        self.range = range
    }

    public var functionCode: UInt8 {
        switch range.table {
        case .coil: 0x01
        case .discreteInput: 0x02
        case .holdingRegister: 0x03
        case .inputRegister: 0x04
        }
    }

    public var pdu: [UInt8] {
        [unitId, functionCode, UInt8(range.start >> 8 & 0xFF), UInt8(range.start & 0xFF),
         UInt8(range.count >> 8 & 0xFF), UInt8(range.count & 0xFF)]
    }

    /// Bytes of data a correct reply carries.
    public var expectedByteCount: Int { range.table.isBitTable ? (range.count + 7) / 8 : range.count * 2 }
}

/// Why a reply frame was discarded.
public enum ModbusReplyProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case tooShort(length: Int)
    case transactionId(got: UInt16, expected: UInt16)
    case protocolId(UInt16)
    case lengthField(says: Int, actual: Int)
    case unitId(got: UInt8, expected: UInt8)
    case functionCode(got: UInt8, expected: UInt8)
    case byteCount(got: Int, expected: Int)
    case exception(code: UInt8)

    public var description: String {
        switch self {
        case .tooShort(let length): "reply of \(length) bytes is shorter than any valid reply"
        case .transactionId(let got, let expected): "reply has transaction id \(got), the request had \(expected)"
        case .protocolId(let id): "reply has protocol id \(id), not 0 (Modbus)"
        case .lengthField(let says, let actual): "reply's MBAP length says \(says) bytes follow, \(actual) did"
        case .unitId(let got, let expected): "reply comes from unit id \(got), the request went to \(expected)"
        case .functionCode(let got, let expected): "reply has function code \(got), the request had \(expected)"
        case .byteCount(let got, let expected): "reply carries \(got) data bytes, the request needs \(expected)"
        case .exception(let code): "Modbus exception \(code)"
        }
    }

    /// An exception is the device's answer; everything else is a broken exchange.
    public var error: ModbusError {
        if case .exception(let code) = self { return .exception(code: Int(code), message: Self.exceptionName(code)) }
        return .communication(errno: 0, message: "discarded: \(description)")
    }

    static func exceptionName(_ code: UInt8) -> String {
        switch code {
        case 1: "Illegal function"
        case 2: "Illegal data address"
        case 3: "Illegal data value"
        case 4: "Slave device or server failure"
        case 5: "Acknowledge"
        case 6: "Slave device or server is busy"
        case 8: "Memory parity error"
        case 10: "Gateway path unavailable"
        case 11: "Target device failed to respond"
        default: "Exception \(code)"
        }
    }
}

/// Checks a whole Modbus/TCP reply (MBAP header and PDU) against its request, as the
/// specification requires of a client: transaction id, protocol id 0, the length field, the
/// unit id, the function code and the byte count must all agree. Pure, so every rule is
/// tested without a socket.
public enum ModbusReply {
    static let headerLength = 7

    /// The offset in `frame` where the data bytes start, or why the frame is discarded.
    public static func check(_ frame: UnsafeBufferPointer<UInt8>, against request: ModbusReadRequest)
        -> Result<Int, ModbusReplyProblem>
    {
        guard frame.count >= headerLength + 2 else { return .failure(.tooShort(length: frame.count)) }
        let transaction = UInt16(frame[0]) << 8 | UInt16(frame[1])
        guard transaction == request.transactionId else {
            return .failure(.transactionId(got: transaction, expected: request.transactionId))
        }
        let protocolId = UInt16(frame[2]) << 8 | UInt16(frame[3])
        guard protocolId == 0 else { return .failure(.protocolId(protocolId)) }
        let length = Int(frame[4]) << 8 | Int(frame[5])
        guard length == frame.count - 6 else { return .failure(.lengthField(says: length, actual: frame.count - 6)) }
        guard frame[6] == request.unitId else { return .failure(.unitId(got: frame[6], expected: request.unitId)) }
        let function = frame[7]
        if function == request.functionCode | 0x80 {
            return frame.count == headerLength + 2 ? .failure(.exception(code: frame[8])) : .failure(.tooShort(length: frame.count))
        }
        guard function == request.functionCode else { return .failure(.functionCode(got: function, expected: request.functionCode)) }
        let byteCount = Int(frame[8])
        guard byteCount == request.expectedByteCount, frame.count == headerLength + 2 + byteCount else {
            return .failure(.byteCount(got: frame.count - headerLength - 2, expected: request.expectedByteCount))
        }
        return .success(headerLength + 2)
    }

    public static func check(_ frame: [UInt8], against request: ModbusReadRequest) -> Result<Int, ModbusReplyProblem> {
        frame.withUnsafeBufferPointer { check($0, against: request) }
    }
}
