import POCareCore

/// Turns raw Modbus registers into engineering values and back (the simulator writes with it).
///
/// Word orders name the bytes of a 32-bit value from most to least significant:
/// ABCD sends the high word first, each word high byte first (Modbus's own big-endian);
/// CDAB sends the low word first; BADC swaps the bytes inside each word; DCBA does both.
/// 64-bit values follow the same rule over four words.
public enum RegisterCodec {
    /// Assembles up to four registers into an unsigned integer according to the word order.
    @inline(__always)
    static func assemble<C: Collection>(_ words: C, order: WordOrder) -> UInt64 where C.Element == UInt16 {
        var result: UInt64 = 0
        let swapBytes = order == .badc || order == .dcba
        let lowWordFirst = order == .cdab || order == .dcba
        if lowWordFirst {
            for word in words.reversed() { result = result << 16 | UInt64(swapBytes ? word.byteSwapped : word) }
        } else {
            for word in words { result = result << 16 | UInt64(swapBytes ? word.byteSwapped : word) }
        }
        return result
    }

    static func split(_ value: UInt64, words count: Int, order: WordOrder) -> [UInt16] {
        let swapBytes = order == .badc || order == .dcba
        var words = (0..<count).map { i -> UInt16 in
            let word = UInt16(truncatingIfNeeded: value >> (16 * (count - 1 - i)))
            return swapBytes ? word.byteSwapped : word
        }
        if order == .cdab || order == .dcba { words.reverse() }
        return words
    }

    /// Decodes a parameter from the registers of a read that starts at `baseAddress`.
    /// Returns `nil` for a value the device marks as invalid (a NaN or infinite float).
    public static func decode(_ parameter: Parameter, registers: UnsafeBufferPointer<UInt16>, baseAddress: Int) -> Value? {
        let first = parameter.address - baseAddress
        let words = registers[first..<(first + parameter.dataType.registerCount)]
        let order = parameter.wordOrder
        switch parameter.dataType {
        case .bool:
            return .flag(words[first] != 0)
        case .bit(let n):
            return .flag(words[first] >> UInt16(n) & 1 == 1)
        case .int16:
            return scaled(Double(Int16(bitPattern: words[first])), parameter)
        case .uint16:
            return scaled(Double(words[first]), parameter)
        case .int32:
            return scaled(Double(Int32(bitPattern: UInt32(truncatingIfNeeded: assemble(words, order: order)))), parameter)
        case .uint32:
            return scaled(Double(UInt32(truncatingIfNeeded: assemble(words, order: order))), parameter)
        case .int64:
            return scaled(Double(Int64(bitPattern: assemble(words, order: order))), parameter)
        case .uint64:
            return scaled(Double(assemble(words, order: order)), parameter)
        case .float32:
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: assemble(words, order: order)))
            guard f.isFinite else { return nil }
            // A float32 has about seven significant digits: the value is kept as its shortest
            // float32 decimal (38.4, not 38.400001525878906), after scaling, so store, reports
            // and wire all show what the device meant.
            if parameter.scale == 1 && parameter.offset == 0 { return .number(Double(shortestFloat32: f)) }
            guard case .number(let v)? = scaled(Double(f), parameter) else { return nil }
            let narrowed = Float(v)
            return .number(narrowed.isFinite ? Double(shortestFloat32: narrowed) : v)
        case .float64:
            let v = Double(bitPattern: assemble(words, order: order))
            return v.isFinite ? scaled(v, parameter) : nil
        case .string:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(words.count * 2)
            for word in words {
                bytes.append(UInt8(word >> 8))
                bytes.append(UInt8(word & 0xFF))
            }
            while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
            // Only printable ASCII is kept; anything else would corrupt logs and reports.
            return .text(String(decoding: bytes.map { (0x20..<0x7F).contains($0) ? $0 : 0x3F }, as: UTF8.self))
        }
    }

    public static func decode(_ parameter: Parameter, registers: [UInt16], baseAddress: Int) -> Value? {
        registers.withUnsafeBufferPointer { decode(parameter, registers: $0, baseAddress: baseAddress) }
    }

    /// Decodes a parameter from the bits of a coil or discrete-input read.
    public static func decode(_ parameter: Parameter, bits: UnsafeBufferPointer<UInt8>, baseAddress: Int) -> Value {
        .flag(bits[parameter.address - baseAddress] != 0)
    }

    /// A scale or offset large enough to overflow gives infinity: no value, as for a NaN
    /// the device reported, never an infinite number in the store or on the wire.
    @inline(__always)
    static func scaled(_ raw: Double, _ parameter: Parameter) -> Value? {
        var v = raw * parameter.scale + parameter.offset
        guard v.isFinite else { return nil }
        // A whole number times a decimal scale has no more decimal places than the scale: drop
        // binary noise (5.1000000000000005) where the value is small enough to hold them exactly.
        if let places = parameter.decimalPlaces, places > 0, raw.rounded() == raw {
            let power = powersOfTen[places]
            let shifted = v * power
            if abs(shifted) < 9e15 { v = shifted.rounded() / power }
        }
        return .number(v)
    }

    static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]

    /// The raw integer behind an enumerated parameter's value, for looking up its label.
    public static func code(of value: Value, for parameter: Parameter) -> Int? {
        switch value {
        case .flag(let b): return b ? 1 : 0
        case .number(let v):
            let raw = ((v - parameter.offset) / parameter.scale).rounded()
            return raw.isFinite && abs(raw) < 9e18 ? Int(raw) : nil
        case .text: return nil
        }
    }

    /// Encodes an engineering value into the registers of a register-table parameter.
    /// Values outside the type's range are clamped, as a device's own firmware would saturate.
    public static func encode(_ value: Value, for parameter: Parameter) -> [UInt16] {
        let count = parameter.dataType.registerCount
        switch (parameter.dataType, value) {
        case (.string, .text(let text)):
            var bytes = Array(text.utf8.prefix(count * 2))
            bytes += Array(repeating: 0, count: count * 2 - bytes.count)
            return (0..<count).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        case (.string, _):
            return Array(repeating: 0, count: count)
        case (.bool, _), (.bit, _):
            return [(value.number ?? 0) != 0 ? 1 : 0]
        default:
            break
        }
        let engineering = value.number ?? 0
        let raw = (engineering - parameter.offset) / parameter.scale
        let order = parameter.wordOrder
        func clamp(_ x: Double, _ lo: Double, _ hi: Double) -> Double { min(max(x.rounded(), lo), hi) }
        switch parameter.dataType {
        case .int16: return [UInt16(bitPattern: Int16(clamp(raw, -32768, 32767)))]
        case .uint16: return [UInt16(clamp(raw, 0, 65535))]
        case .int32: return split(UInt64(UInt32(bitPattern: Int32(clamp(raw, -2147483648, 2147483647)))), words: 2, order: order)
        case .uint32: return split(UInt64(clamp(raw, 0, 4294967295)), words: 2, order: order)
        case .int64: return split(UInt64(bitPattern: Int64(clamp(raw, -9.2e18, 9.2e18))), words: 4, order: order)
        case .uint64: return split(UInt64(clamp(raw, 0, 1.8e19)), words: 4, order: order)
        case .float32: return split(UInt64(Float(raw).bitPattern), words: 2, order: order)
        case .float64: return split(raw.bitPattern, words: 4, order: order)
        default: return Array(repeating: 0, count: count)
        }
    }
}
