/// What a message of the contract may be, at most, and what its JSON may hold: a site never
/// sends more (its encoder keeps within these), so anything beyond is refused by a consumer
/// as not the contract's (docs/mqtt.md, "Limits").
public struct ContractLimits: Sendable, Equatable {
    /// A telemetry message, in bytes: the site ends a message before the sample that would take it past this.
    public var telemetryBytes = ContractLimits.telemetryMessageBytes
    /// An event message (a batch's whole record is one), in bytes.
    public var eventBytes = 8 << 20
    /// Any other message (status, audit entry, device metadata, spec), in bytes.
    public var otherBytes = 1 << 20
    /// Samples in one telemetry message: the largest `telemetry_batch` a site may configure.
    public var samplesPerMessage = 10_000
    /// Values in one sample, whatever the device (its metadata then names which).
    public var parametersPerSample = 10_000
    /// Nesting of objects and arrays in any message.
    public var depth = 32

    public init() {}

    public static let standard = ContractLimits()
    public static let telemetryMessageBytes = 256 * 1024

    func bytes(for kind: MessageKind) -> Int {
        switch kind {
        case .telemetry: telemetryBytes
        case .event: eventBytes
        case .other: otherBytes
        }
    }

    enum MessageKind { case telemetry, event, other }
}

/// A strict reading of JSON text: the grammar of RFC 8259, every number finite as a double,
/// nesting within a depth. `JSONFields` only finds where values end; this says whether the
/// text is JSON that a consumer can store and compute with (`1e400` is not: no double holds it).
enum StrictJSON {
    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "\(reason) at byte \(offset)" }
    }

    static func check(_ bytes: ArraySlice<UInt8>, depth limit: Int) throws(Failure) {
        // Read in place: every byte of every message passes here first.
        let failure: Failure? = bytes.withUnsafeBufferPointer { buffer -> Failure? in
            var reader = Reader(bytes: buffer, position: 0, limit: limit)
            do throws(Failure) {
                reader.space()
                try reader.value(depth: 0)
                reader.space()
                guard reader.position == buffer.count else { return Failure(offset: reader.position, reason: "text after the JSON value") }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var position: Int
        let limit: Int

        func fail(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }
        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func space() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
        }

        mutating func value(depth: Int) throws(Failure) {
            guard let c = current else { throw fail("a value is missing") }
            switch c {
            case 0x7B: try container(depth: depth, close: 0x7D, object: true)
            case 0x5B: try container(depth: depth, close: 0x5D, object: false)
            case 0x22: try string()
            case 0x74: try literal("true")
            case 0x66: try literal("false")
            case 0x6E: try literal("null")
            default: try number()
            }
        }

        mutating func container(depth: Int, close: UInt8, object: Bool) throws(Failure) {
            guard depth < limit else { throw fail("nested deeper than \(limit)") }
            position += 1
            space()
            if current == close {
                position += 1
                return
            }
            while true {
                space()
                if object {
                    guard current == 0x22 else { throw fail("a key must be a string") }
                    try string()
                    space()
                    guard current == 0x3A else { throw fail("':' expected") }
                    position += 1
                    space()
                }
                try value(depth: depth + 1)
                space()
                if current == 0x2C {
                    position += 1
                    continue
                }
                guard current == close else { throw fail("',' or the end expected") }
                position += 1
                return
            }
        }

        mutating func string() throws(Failure) {
            position += 1
            while true {
                // Past the plain run, to what needs a look: the end, an escape or a control character.
                position = JSONStringRun.end(in: bytes, from: position)
                guard let c = current else { break }
                position += 1
                switch c {
                case 0x22: return
                case 0x5C:
                    guard let e = current else { throw fail("unfinished escape") }
                    position += 1
                    if e == 0x75 {
                        for _ in 0..<4 {
                            guard let h = current, (0x30...0x39).contains(h) || (0x41...0x46).contains(h) || (0x61...0x66).contains(h) else {
                                throw fail("\\u needs four hex digits")
                            }
                            position += 1
                        }
                    } else if ![0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74].contains(e) {
                        throw fail("unknown escape")
                    }
                case 0..<0x20: throw fail("a control character in a string")
                default: break
                }
            }
            throw fail("unfinished string")
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let count = word.utf8CodeUnitCount
            let matches = bytes.count - position >= count && word.withUTF8Buffer { text in
                (0..<count).allSatisfy { bytes[position + $0] == text[$0] }
            }
            guard matches else { throw fail("not a JSON value") }
            position += count
        }

        mutating func number() throws(Failure) {
            let start = position
            if current == 0x2D { position += 1 }
            guard let first = current, (0x30...0x39).contains(first) else { throw fail("not a JSON value") }
            if first == 0x30 { position += 1 } else { digits() }
            if current == 0x2E {
                position += 1
                guard current.map({ (0x30...0x39).contains($0) }) == true else { throw fail("a digit must follow '.'") }
                digits()
            }
            var exponent = false
            if current == 0x65 || current == 0x45 {
                exponent = true
                position += 1
                if current == 0x2B || current == 0x2D { position += 1 }
                guard current.map({ (0x30...0x39).contains($0) }) == true else { throw fail("an exponent needs digits") }
                digits()
            }
            // Without an exponent, 64 characters hold at most 64 digits before the point: far
            // below the largest double (about 1.8e308), so only a number with one is converted.
            guard position - start <= 64,
                  !exponent || JSONNumber.double(Array(bytes[start..<position])[...]).map({ $0.isFinite }) == true
            else {
                throw Failure(offset: start,
                              reason: "the number \(String(decoding: bytes[start..<min(position, start + 32)], as: UTF8.self)) is beyond a double")
            }
        }

        mutating func digits() {
            while let c = current, (0x30...0x39).contains(c) { position += 1 }
        }
    }
}
