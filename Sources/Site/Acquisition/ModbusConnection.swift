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
    public let unitId: UInt8
    private let responseTimeoutNanoseconds: Int64
    public private(set) var isConnected = false
    /// One reply frame, reused by every read of this connection.
    private let reply = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(MODBUS_TCP_MAX_ADU_LENGTH))

    public init(host: String, port: Int, unitId: Int, responseTimeout: Duration) throws(ModbusError) {
        guard (0...255).contains(unitId) else { throw ModbusError.communication(errno: EINVAL, message: "unit id \(unitId) is out of range 0...255") }
        guard let context = modbus_new_tcp_pi(host, String(port)) else { throw ModbusError.fromErrno() }
        self.context = context
        self.host = host
        self.port = port
        self.unitId = UInt8(unitId)
        modbus_set_slave(context, Int32(unitId))
        let (seconds, attoseconds) = responseTimeout.components
        let micros = UInt32(attoseconds / 1_000_000_000_000)
        modbus_set_response_timeout(context, UInt32(clamping: seconds), micros)
        modbus_set_byte_timeout(context, UInt32(clamping: seconds), micros)
        responseTimeoutNanoseconds = responseTimeout.nanoseconds
    }

    deinit {
        if isConnected { modbus_close(context) }
        modbus_free(context)
        reply.deallocate()
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
    ///
    /// The request goes out through libmodbus's raw interface so that the whole reply, with its
    /// MBAP header, can be checked (`ModbusReply`): libmodbus 3.1.6 accepts a reply with another
    /// unit id, protocol id 1 or a length field that disagrees with the data, which the
    /// Modbus/TCP specification says to discard. Such a reply is a communication failure, and
    /// the caller closes the link, so no stale byte of it can be read as the next reply.
    public func read(_ range: AddressRange, registers: UnsafeMutablePointer<UInt16>, bits: UnsafeMutablePointer<UInt8>)
        throws(ModbusError)
    {
        let request = ModbusReadRequest(unitId: unitId, range: range)
        let started = MonotonicClock.now()
        let sent = request.pdu.withUnsafeBufferPointer { modbus_send_raw_request(context, $0.baseAddress, Int32($0.count)) }
        guard sent > 0 else { throw ModbusError.fromErrno() }
        let length = modbus_receive_confirmation(context, reply)
        guard length > 0 else { throw ModbusError.fromErrno() }
        // libmodbus times the first byte and each gap between bytes, so a device dribbling its
        // reply out a byte at a time could hold the cycle for seconds; the whole reply must be
        // in within the response timeout.
        guard MonotonicClock.now() - started <= responseTimeoutNanoseconds else { throw ModbusError.timeout }
        let frame = UnsafeBufferPointer(start: reply, count: Int(length))
        switch ModbusReply.check(frame, against: request) {
        case .failure(let problem):
            throw problem.error
        case .success(let data):
            if range.table.isBitTable {
                for i in 0..<range.count { bits[i] = frame[data + i / 8] >> UInt8(i % 8) & 1 }
            } else {
                for i in 0..<range.count { registers[i] = UInt16(frame[data + 2 * i]) << 8 | UInt16(frame[data + 2 * i + 1]) }
            }
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
