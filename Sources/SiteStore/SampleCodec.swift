import POCareCore

/// Packs a sample's readings into a few bytes each: one byte of quality and kind, then the
/// value (8 bytes for a number, none for a flag, length and UTF-8 for text). Parameter ids
/// are stored once per device layout, not per sample.
public enum SampleCodec {
    enum Kind: UInt8 { case none = 0, number = 1, flagFalse = 2, flagTrue = 3, text = 4 }

    public static func encode(_ readings: [Reading]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(readings.count * 9)
        for reading in readings {
            let quality: UInt8 = switch reading.quality {
            case .good: 0
            case .badCommunication: 1
            case .badDevice: 2
            }
            switch reading.value {
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
        return bytes
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
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
