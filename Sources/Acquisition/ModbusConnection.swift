import CModbus
import Foundation
import POCareCore

/// Why a Modbus exchange failed, with libmodbus's own words.
public enum ModbusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The device answered with a Modbus exception (1 illegal function, 2 illegal address, 4 device failure, ...).
    case exception(code: Int, message: String)
    /// No answer within the response timeout.
    case timeout
    /// The TCP link failed, was refused, or the reply was malformed.
    case communication(errno: Int32, message: String)

    public var description: String {
        switch self {
        case .exception(let code, let message): "Modbus exception \(code): \(message)"
        case .timeout: "no response within the response timeout"
        case .communication(_, let message): message
        }
    }

    /// The quality a reading gets when its request failed this way.
    public var quality: Quality {
        if case .exception = self { return .badDevice }
        return .badCommunication
    }

    static func fromErrno() -> ModbusError {
        let code = errno
        let message = String(cString: modbus_strerror(code))
        if code >= MODBUS_ENOBASE + 1 && code <= MODBUS_ENOBASE + 11 {
            return .exception(code: Int(code - MODBUS_ENOBASE), message: message)
        }
        if code == ETIMEDOUT { return .timeout }
        return .communication(errno: code, message: message)
    }
}

/// Owns one libmodbus TCP client context. Every call blocks, so it is used only from the
/// thread of the poller (or benchmark) that created it, never from Swift's cooperative pool.
public final class ModbusConnection {
    private let context: OpaquePointer
    public let host: String
    public let port: Int
    public private(set) var isConnected = false

    public init(host: String, port: Int, unitId: Int, responseTimeout: Duration) throws(ModbusError) {
        guard let context = modbus_new_tcp_pi(host, String(port)) else { throw ModbusError.fromErrno() }
        self.context = context
        self.host = host
        self.port = port
        modbus_set_slave(context, Int32(unitId))
        let (seconds, attoseconds) = responseTimeout.components
        let micros = UInt32(attoseconds / 1_000_000_000_000)
        modbus_set_response_timeout(context, UInt32(seconds), micros)
    }

    deinit {
        if isConnected { modbus_close(context) }
        modbus_free(context)
    }

    public func connect() throws(ModbusError) {
        if isConnected { return }
        guard modbus_connect(context) == 0 else {
            let error = ModbusError.fromErrno()
            modbus_close(context)
            throw error
        }
        isConnected = true
    }

    public func close() {
        guard isConnected else { return }
        modbus_close(context)
        isConnected = false
    }

    /// Reads `range` into `registers` (for word tables) or `bits` (for bit tables).
    public func read(_ range: AddressRange, registers: UnsafeMutablePointer<UInt16>, bits: UnsafeMutablePointer<UInt8>)
        throws(ModbusError)
    {
        let start = Int32(range.start), count = Int32(range.count)
        let result: Int32
        switch range.table {
        case .holdingRegister: result = modbus_read_registers(context, start, count, registers)
        case .inputRegister: result = modbus_read_input_registers(context, start, count, registers)
        case .coil: result = modbus_read_bits(context, start, count, bits)
        case .discreteInput: result = modbus_read_input_bits(context, start, count, bits)
        }
        guard result == count else {
            throw result < 0
                ? ModbusError.fromErrno()
                : .communication(errno: 0, message: "short reply: \(result) of \(count) values")
        }
    }

    public func readRegisters(_ range: AddressRange) throws(ModbusError) -> [UInt16] {
        var registers = [UInt16](repeating: 0, count: max(range.count, 1))
        var bits = [UInt8](repeating: 0, count: max(range.count, 1))
        try registers.withUnsafeMutableBufferPointer { (r) throws(ModbusError) in
            try bits.withUnsafeMutableBufferPointer { (b) throws(ModbusError) in
                try read(range, registers: r.baseAddress!, bits: b.baseAddress!)
            }
        }
        return range.table.isBitTable ? bits.map { UInt16($0) } : registers
    }
}
