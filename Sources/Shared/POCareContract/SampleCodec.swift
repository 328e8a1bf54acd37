import POCareCore

/// Packs a sample's readings into a few bytes each: one byte of quality and kind, then the
/// value (8 bytes for a number, none for a flag, length and UTF-8 for text). Parameter ids
/// are stored once per device layout, not per sample.
public enum SampleCodec {
    @usableFromInline enum Kind: UInt8 { case none = 0, number = 1, flagFalse = 2, flagTrue = 3, text = 4 }

    public static func encode(_ readings: [Reading]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(readings.count * 9)
        for reading in readings { append(reading.value, quality: reading.quality, to: &bytes) }
        return bytes
    }

    /// One reading's bytes, appended: for a writer that packs readings as it reads them.
    public static func append(_ value: Value?, quality: Quality, to bytes: inout [UInt8]) {
        let quality: UInt8 = switch quality {
        case .good: 0
        case .badCommunication: 1
        case .badDevice: 2
        }
        switch value {
        case .none:
            bytes.append(quality << 4 | Kind.none.rawValue)
        case .number(let v)?:
            bytes.append(quality << 4 | Kind.number.rawValue)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .flag(let b)?:
            bytes.append(quality << 4 | (b ? Kind.flagTrue : Kind.flagFalse).rawValue)
        case .text(let s)?:
            let utf8 = Array(s.utf8.prefix(65535))
            bytes.append(quality << 4 | Kind.text.rawValue)
            bytes.append(UInt8(utf8.count & 0xFF))
            bytes.append(UInt8(utf8.count >> 8))
            bytes.append(contentsOf: utf8)
        }
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
        @inlinable public init(description: String) { self.description = description }
    }

    /// A stored value read in place (text is valid only during the visit).
    public enum StoredValue {
        case none
        case number(Double)
        case flag(Bool)
        case text(UnsafeRawBufferPointer)
    }

    /// Visits the packed readings in order without building `Reading`s (the publisher writes
    /// messages straight from the stored bytes). Returns how many there were.
    @inlinable @discardableResult
    public static func visit(_ bytes: UnsafeRawBufferPointer, _ body: (Int, Quality, StoredValue) -> Void) throws(DecodeError) -> Int {
        var i = 0, index = 0
        let count = bytes.count
        while i < count {
            let head = bytes[i]
            i += 1
            let quality: Quality = switch head >> 4 {
            case 0: .good
            case 1: .badCommunication
            default: .badDevice
            }
            switch head & 0x0F {
            case Kind.none.rawValue: body(index, quality, .none)
            case Kind.number.rawValue:
                guard i + 8 <= count else { throw DecodeError(description: "truncated number at reading \(index)") }
                let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                body(index, quality, .number(Double(bitPattern: raw)))
                i += 8
            case Kind.flagFalse.rawValue: body(index, quality, .flag(false))
            case Kind.flagTrue.rawValue: body(index, quality, .flag(true))
            case Kind.text.rawValue:
                guard i + 2 <= count else { throw DecodeError(description: "truncated text at reading \(index)") }
                let length = Int(bytes[i]) | Int(bytes[i + 1]) << 8
                i += 2
                guard i + length <= count else { throw DecodeError(description: "truncated text at reading \(index)") }
                body(index, quality, .text(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)])))
                i += length
            default:
                throw DecodeError(description: "unknown value kind \(head & 0x0F) at reading \(index)")
            }
            index += 1
        }
        return index
    }

    public static func decode(_ bytes: [UInt8], parameters: [String]) throws(DecodeError) -> [Reading] {
        var readings: [Reading] = []
        readings.reserveCapacity(parameters.count)
        var i = 0
        for id in parameters {
            guard i < bytes.count else { throw DecodeError(description: "readings end before parameter '\(id)'") }
            let head = bytes[i]
            i += 1
            let quality: Quality = switch head >> 4 {
            case 0: .good
            case 1: .badCommunication
            default: .badDevice
            }
            var value: Value?
            switch Kind(rawValue: head & 0x0F) {
            case .none?: value = nil
            case .number?:
                guard i + 8 <= bytes.count else { throw DecodeError(description: "truncated number for '\(id)'") }
                var raw: UInt64 = 0
                for k in 0..<8 { raw |= UInt64(bytes[i + k]) << (8 * k) }
                value = .number(Double(bitPattern: raw))
                i += 8
            case .flagFalse?: value = .flag(false)
            case .flagTrue?: value = .flag(true)
            case .text?:
                guard i + 2 <= bytes.count else { throw DecodeError(description: "truncated text for '\(id)'") }
                let count = Int(bytes[i]) | Int(bytes[i + 1]) << 8
                i += 2
                guard i + count <= bytes.count else { throw DecodeError(description: "truncated text for '\(id)'") }
                value = .text(String(decoding: bytes[i..<(i + count)], as: UTF8.self))
                i += count
            case nil:
                throw DecodeError(description: "unknown value kind \(head & 0x0F) for '\(id)'")
            }
            readings.append(Reading(parameterId: id, value: value, quality: quality))
        }
        guard i == bytes.count else { throw DecodeError(description: "\(bytes.count - i) bytes left over") }
        return readings
    }
}
