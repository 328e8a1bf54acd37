/// The top-level fields of one JSON object, each kept as the exact bytes it arrived as.
///
/// Ingest needs a few envelope fields and the samples as they were sent (PostgreSQL parses
/// and compares them as jsonb), so a full parse into Swift values would be wasted work at
/// tens of thousands of samples a second.
public struct JSONFields: Sendable {
    public let bytes: ArraySlice<UInt8>
    private var ranges: [String: Range<Int>] = [:]
    /// The elements of each member that is an array, found while reading past it: a telemetry
    /// message is mostly its `samples`, and finding where the array ends already visits where
    /// each element ends, so they are not looked for a second time.
    private var elements: [String: [Range<Int>]] = [:]

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformed(at: Int)
        public var description: String {
            switch self { case .malformed(let at): "malformed JSON at byte \(at)" }
        }

        /// The same failure, its position counted from `base` on: a walk over lent bytes counts from 0.
        func moved(by base: Int) -> Failure {
            switch self { case .malformed(let at): .malformed(at: at + base) }
        }
    }

    public init(_ bytes: [UInt8]) throws(Failure) { try self.init(bytes[...]) }

    public init(_ bytes: ArraySlice<UInt8>) throws(Failure) { try self.init(bytes, walking: nil) { _, _, _ in nil } }

    /// As above, with each element of the array member `key` walked by `element` as it is read
    /// past: given its place among the elements, the bytes and where it starts, it returns where
    /// it ends, or nil to have it read past as any value. A telemetry message is mostly its
    /// samples: their members are found here, not in a second pass over every sample.
    init(
        _ bytes: ArraySlice<UInt8>, walkingElementsOf key: String,
        _ element: (_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int?
    ) throws(Failure) {
        try self.init(bytes, walking: Array("\"\(key)\"".utf8), element)
    }

    private init(
        _ bytes: ArraySlice<UInt8>, walking literal: [UInt8]?, _ element: (Int, UnsafeBufferPointer<UInt8>, Int) -> Int?
    ) throws(Failure) {
        self.bytes = bytes
        let base = bytes.startIndex
        var ranges: [String: Range<Int>] = [:]
        var elements: [String: [Range<Int>]] = [:]
        do {
            _ = try bytes.withUnsafeBufferPointer { buffer throws(Failure) in
                try Self.walkMembers(of: buffer, keepingElements: true, walking: literal, element: { element($0, buffer, $1) }) {
                    key, value, found throws(Failure) in
                    guard let name = JSONFields.decodeString(bytes[(base + key.lowerBound)..<(base + key.upperBound)]) else {
                        throw .malformed(at: key.lowerBound)
                    }
                    // A key given twice counts as its last value.
                    ranges[name] = (base + value.lowerBound)..<(base + value.upperBound)
                    elements[name] = base == 0 ? found : found?.map { (base + $0.lowerBound)..<(base + $0.upperBound) }
                }
            }
        } catch {
            throw error.moved(by: base)
        }
        self.ranges = ranges
        self.elements = elements
    }

    /// Each member of a JSON object, in order, as the exact bytes of its key (the string literal,
    /// quotes included) and of its value, without keeping them: for readers that want a few
    /// members of many objects and would spend more on a dictionary than on the scan.
    public static func forEachMember(
        _ bytes: ArraySlice<UInt8>, _ body: (_ key: ArraySlice<UInt8>, _ value: ArraySlice<UInt8>) -> Void
    ) throws(Failure) {
        let base = bytes.startIndex
        do {
            _ = try bytes.withUnsafeBufferPointer { buffer throws(Failure) in
                try walkMembers(of: buffer, keepingElements: false) { key, value, _ in
                    body(bytes[(base + key.lowerBound)..<(base + key.upperBound)], bytes[(base + value.lowerBound)..<(base + value.upperBound)])
                }
            }
        } catch {
            throw error.moved(by: base)
        }
    }

    /// As above, over bytes lent in place, each member given as where its key and its value lie
    /// in `bytes`. For the readers of every sample: a slice holds a reference to the message's
    /// bytes, and counting those references, two a member, cost more than reading the member.
    /// Returns where the object ends (after its `}`).
    @discardableResult
    public static func forEachMember(
        in bytes: UnsafeBufferPointer<UInt8>, _ body: (_ key: Range<Int>, _ value: Range<Int>) throws(Failure) -> Void
    ) throws(Failure) -> Int {
        try walkMembers(of: bytes, keepingElements: false) { key, value, _ throws(Failure) in try body(key, value) }
    }

    /// The one walk over an object's members; returns where the object ends. `keepingElements`:
    /// where a value is an array, where each of its elements lies, found while reading past it;
    /// `walking`: the elements of the member whose key is `literal` read past by `element`
    /// (`init(_:walkingElementsOf:_:)`).
    @discardableResult
    private static func walkMembers(
        of bytes: UnsafeBufferPointer<UInt8>, keepingElements: Bool, walking literal: [UInt8]? = nil, element: (Int, Int) -> Int? = { _, _ in nil },
        _ body: (_ key: Range<Int>, _ value: Range<Int>, _ elements: [Range<Int>]?) throws(Failure) -> Void
    ) throws(Failure) -> Int {
        var scanner = Scanner(bytes: bytes)
        scanner.skipSpace()
        guard scanner.take(0x7B) else { throw .malformed(at: scanner.position) }
        scanner.skipSpace()
        if scanner.take(0x7D) { return scanner.position }
        while true {
            scanner.skipSpace()
            let keyStart = scanner.position
            guard keyStart < bytes.count, bytes[keyStart] == 0x22 else { throw .malformed(at: keyStart) }
            try scanner.skipValue()
            let key = keyStart..<scanner.position
            scanner.skipSpace()
            guard scanner.take(0x3A) else { throw .malformed(at: scanner.position) }
            scanner.skipSpace()
            let valueStart = scanner.position
            var elements: [Range<Int>]?
            if keepingElements, valueStart < bytes.count, bytes[valueStart] == 0x5B {
                let walked = literal?.withUnsafeBufferPointer { JSONFields.same(UnsafeBufferPointer(rebasing: bytes[key]), $0) } ?? false
                elements = try scanner.skipArray(walking: walked, element)
            } else {
                try scanner.skipValue()
            }
            try body(key, valueStart..<scanner.position, elements)
            scanner.skipSpace()
            if scanner.take(0x2C) { continue }
            guard scanner.take(0x7D) else { throw .malformed(at: scanner.position) }
            return scanner.position
        }
    }

    public func has(_ key: String) -> Bool { ranges[key] != nil }

    public func raw(_ key: String) -> ArraySlice<UInt8>? { ranges[key].map { bytes[$0] } }

    /// A string field; nil when absent, null or not a string.
    public func string(_ key: String) -> String? { raw(key).flatMap(JSONFields.decodeString) }

    /// An integer field; nil when absent, null or not an integer.
    public func int(_ key: String) -> Int64? { raw(key).flatMap(JSONFields.int(raw:)) }

    /// An integer literal's value; nil for anything else (a fraction, an exponent, null, a string).
    public static func int(raw: ArraySlice<UInt8>) -> Int64? {
        guard !raw.isEmpty else { return nil }
        var value: Int64 = 0
        var negative = false
        for (n, byte) in raw.enumerated() {
            if n == 0 && byte == 0x2D { negative = true; continue }
            guard (0x30...0x39).contains(byte) else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(byte - 0x30))
            if o1 || o2 { return nil }
            value = a
        }
        return negative ? -value : value
    }

    /// The elements of an array field, each as its exact bytes.
    public func arrayElements(_ key: String) throws(Failure) -> [ArraySlice<UInt8>]? {
        guard let found = elements[key] else { return nil }
        return found.map { bytes[$0] }
    }

    /// Decodes a JSON string literal (quotes included); nil for anything else.
    public static func decodeString(_ raw: ArraySlice<UInt8>) -> String? { decode(raw) }

    /// As above, for a literal lent in place.
    public static func decodeString(lent raw: UnsafeBufferPointer<UInt8>) -> String? { decode(raw) }

    private static func decode<Bytes: RandomAccessCollection>(_ raw: Bytes) -> String? where Bytes.Element == UInt8, Bytes.Index == Int {
        guard raw.count >= 2, raw.first == 0x22, raw.last == 0x22 else { return nil }
        let inner = raw.dropFirst().dropLast()
        guard inner.contains(0x5C) else { return String(decoding: inner, as: UTF8.self) }
        var out: [UInt8] = []
        var i = inner.startIndex
        while i < inner.endIndex {
            let byte = inner[i]
            guard byte == 0x5C, i + 1 < inner.endIndex else {
                out.append(byte)
                i += 1
                continue
            }
            let escaped = inner[i + 1]
            i += 2
            switch escaped {
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x75:
                guard i + 4 <= inner.endIndex,
                    let code = UInt32(String(decoding: inner[i..<i + 4], as: UTF8.self), radix: 16)
                else { return nil }
                i += 4
                var scalarValue = code
                // A surrogate pair spells one scalar outside the basic plane.
                if (0xD800..<0xDC00).contains(code), i + 6 <= inner.endIndex, inner[i] == 0x5C, inner[i + 1] == 0x75,
                    let low = UInt32(String(decoding: inner[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16),
                    (0xDC00..<0xE000).contains(low)
                {
                    scalarValue = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out.append(contentsOf: String(Unicode.Scalar(scalarValue).map(Character.init) ?? "\u{FFFD}").utf8)
            default: out.append(escaped)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads bytes lent in place; positions count from the first of them.
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        mutating func skipSpace() {
            while position < bytes.count {
                let byte = bytes[position]
                guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { return }
                position += 1
            }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// Moves past an array (at `[`), returning where each element lies. `element`: reads past
        /// an element (given its place and start, returns its end), or leaves it (nil) to be read past as any value.
        mutating func skipArray(walking: Bool = false, _ element: (Int, Int) -> Int? = { _, _ in nil }) throws(Failure) -> [Range<Int>] {
            guard take(0x5B) else { throw .malformed(at: position) }
            var elements: [Range<Int>] = []
            skipSpace()
            if take(0x5D) { return elements }
            while true {
                skipSpace()
                let start = position
                if walking, let end = element(elements.count, start) { position = end } else { try skipValue() }
                elements.append(start..<position)
                skipSpace()
                if take(0x2C) { continue }
                guard take(0x5D) else { throw .malformed(at: position) }
                return elements
            }
        }

        /// Moves past one value of any kind, checking only what it must to find the end. Every
        /// byte of every message passes here several times (envelope, samples, their members).
        mutating func skipValue() throws(Failure) {
            let (end, found) = Self.end(ofValueAt: position, in: bytes)
            position = end
            if !found { throw .malformed(at: position) }
        }

        /// Where the value starting at `start` ends; or, when it does not end within `bytes`,
        /// where reading it stopped.
        private static func end(ofValueAt start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (Int, found: Bool) {
            let count = bytes.count
            guard start < count else { return (start, false) }
            switch bytes[start] {
            case 0x22:
                return end(ofStringAt: start, in: bytes)
            case 0x7B, 0x5B:
                var depth = 0
                var i = start
                while i < count {
                    // Most bytes of an object are none of the five that matter here: `{` and `[` are
                    // one bit apart, as are `}` and `]`.
                    let byte = bytes[i], folded = byte | 0x20
                    if byte == 0x22 {
                        let (after, found) = end(ofStringAt: i, in: bytes)
                        guard found else { return (after, false) }
                        i = after
                        continue
                    }
                    i += 1
                    if folded == 0x7B {
                        depth += 1
                    } else if folded == 0x7D {
                        depth -= 1
                        if depth == 0 { return (i, true) }
                    }
                }
                return (i, false)
            default:
                var i = start
                scan: while i < count {
                    switch bytes[i] {
                    case 0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D: break scan
                    default: i += 1
                    }
                }
                return (i, i > start)
            }
        }

        @inline(__always)
        private static func end(ofStringAt start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (Int, found: Bool) {
            var i = start + 1
            while true {
                i = JSONStringRun.end(in: bytes, from: i)
                guard i < bytes.count else { return (bytes.count, false) }
                let byte = bytes[i]
                if byte == 0x22 { return (i + 1, true) }
                i += byte == 0x5C ? 2 : 1
            }
        }
    }
}
