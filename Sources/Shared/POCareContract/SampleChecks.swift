import POCareCore

/// The contract's rules for a telemetry sample's fields beyond the envelope: `values` an object
/// of plain values (a number, a flag, a label or text, or null) with each key once, `quality` an
/// object of quality names, and times that are UTC times.
enum SampleChecks {
    /// The keys of a message's samples as last read: a device sends the same keys in every
    /// sample, so a sample whose keys are byte for byte the last one's reuses its checked names.
    struct KeysSeen {
        /// The keys' string literals one after another, and where each of them lies.
        var literals: [UInt8] = []
        var ranges: [Range<Int>] = []
        var names: [String] = []
    }

    /// The keys of `values`, in order, and each value as read (`SampleFields.readValues`; nil
    /// where one is not a plain value, then left to whoever reads the bytes); throws what breaks
    /// the rules.
    static func values(
        _ raw: ArraySlice<UInt8>?, limit: Int, seen: inout KeysSeen, _ malformed: (String) -> ContractMessage.Failure
    ) throws(ContractMessage.Failure) -> (names: [String], read: [Value?]?) {
        guard let raw else { return ([], nil) }
        let base = raw.startIndex
        let earlier = seen.ranges
        // Each key is compared with the one in its place in the sample before as it is read; the
        // keys are listed only from the first that differs (most samples have none).
        var count = 0
        var differsAt: Int?
        var laterKeys: [Range<Int>] = []
        var container: Range<Int>?
        // Read here, in the one pass over the values the message's reader makes anyway.
        var read: [Value?] = []
        read.reserveCapacity(earlier.count)
        var plain = true
        // Where the object breaks is not needed: the message was read as strict JSON already.
        // Walked in place: a slice of each key and value would count references to the message's bytes.
        do {
            _ = try raw.withUnsafeBufferPointer { buffer throws(JSONFields.Failure) in
                try seen.literals.withUnsafeBufferPointer { seenLiterals throws(JSONFields.Failure) in
                    try JSONFields.forEachMember(in: buffer) { key, value in
                        let text = UnsafeBufferPointer(rebasing: buffer[value])
                        if plain {
                            if let value = Self.plainValue(text) { read.append(value) } else { plain = false }
                        }
                        if differsAt == nil, count < earlier.count,
                           JSONFields.same(UnsafeBufferPointer(rebasing: buffer[key]), UnsafeBufferPointer(rebasing: seenLiterals[earlier[count]])) {
                            // The same key as before, in the same place.
                        } else {
                            if differsAt == nil { differsAt = count }
                            laterKeys.append(key)
                        }
                        count += 1
                        if container == nil, text.first == 0x7B || text.first == 0x5B { container = key }
                    }
                }
            }
        } catch {
            throw malformed("values: expected an object of parameter values")
        }
        guard count <= limit else { throw malformed("\(count) values; the contract allows \(limit) in a sample") }
        let names: [String]
        if differsAt == nil, count == earlier.count {
            names = seen.names
        } else {
            // The keys before the first that differs are the sample before's; the rest are this one's.
            var keys = KeysSeen()
            func keep<Bytes: Collection>(_ literal: Bytes) where Bytes.Element == UInt8 {
                let start = keys.literals.count
                keys.literals.append(contentsOf: literal)
                keys.ranges.append(start..<keys.literals.count)
            }
            for range in earlier.prefix(differsAt ?? count) { keep(seen.literals[range]) }
            for key in laterKeys { keep(raw[(base + key.lowerBound)..<(base + key.upperBound)]) }
            keys.names.reserveCapacity(keys.ranges.count)
            var unique = Set<String>()
            unique.reserveCapacity(keys.ranges.count)
            for range in keys.ranges {
                guard let name = JSONFields.decodeString(keys.literals[range]) else { throw malformed("values: expected an object of parameter values") }
                guard unique.insert(name).inserted else { throw malformed("values: '\(name.prefix(64))' is given twice") }
                keys.names.append(name)
            }
            names = keys.names
            seen = keys
        }
        if let container, let name = JSONFields.decodeString(raw[(base + container.lowerBound)..<(base + container.upperBound)]) {
            throw malformed("values: '\(name.prefix(64))' must be a number, a flag, a label or null")
        }
        return (names, plain ? read : nil)
    }

    /// A value from its bytes, for the message's reader and the hash's own reading alike
    /// (`WireRecordHash`): `.some(nil)` for null; nil for what is not a plain value (text that
    /// cannot be decoded, a number that is not finite).
    static func plainValue(_ text: ArraySlice<UInt8>) -> Value?? {
        text.withUnsafeBufferPointer { plainValue($0) }
    }

    /// As above, for bytes lent in place.
    static func plainValue(_ text: UnsafeBufferPointer<UInt8>) -> Value?? {
        switch text.first {
        case 0x6E?: return .some(nil)
        case 0x74?: return .some(Value.flag(true))
        case 0x66?: return .some(Value.flag(false))
        case 0x22?:
            guard let text = JSONFields.decodeString(lent: text) else { return nil }
            return .some(Value.text(text))
        default:
            guard let number = JSONNumber.double(text), number.isFinite else { return nil }
            return .some(Value.number(number))
        }
    }

    static func quality(_ raw: ArraySlice<UInt8>?, _ malformed: (String) -> ContractMessage.Failure) throws(ContractMessage.Failure) {
        guard let raw, !raw.elementsEqual("null".utf8) else { return }
        // The parse error is replaced by one that names the field.
        guard let members = try? JSONFields.members(raw), members.allSatisfy({ $0.value.first == 0x22 }) else {
            throw malformed("quality: expected an object of quality names")
        }
    }

    /// A record's time: `YYYY-MM-DDTHH:MM:SS[.fff]Z`, in UTC.
    static func time(_ text: String?, _ malformed: (String) -> ContractMessage.Failure) throws(ContractMessage.Failure) {
        guard let text else { return }
        // The site's own form, checked by shape; anything else through the full reader.
        guard isSiteForm(text) || UTCTime.parse(text) != nil else { throw malformed("time '\(text.prefix(40))' is not a UTC time") }
    }

    /// Whether `text` is `YYYY-MM-DDTHH:MM:SS.fffZ` with a month, day, hour, minute and second
    /// in range: every sample's time is, and is checked here without making anything of it.
    static func isSiteForm(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.count == 24, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54, bytes[13] == 0x3A, bytes[16] == 0x3A,
                  bytes[19] == 0x2E, bytes[23] == 0x5A
            else { return false }
            for i in 0..<23 {
                switch i {
                case 4, 7, 10, 13, 16, 19: continue
                default: guard bytes[i] >= 0x30 && bytes[i] <= 0x39 else { return false }
                }
            }
            func number(at i: Int) -> Int { Int(bytes[i] - 0x30) * 10 + Int(bytes[i + 1] - 0x30) }
            return (1...12).contains(number(at: 5)) && (1...31).contains(number(at: 8)) && number(at: 11) <= 23
                && number(at: 14) <= 59 && number(at: 17) <= 60
        }
    }
}

extension JSONFields {
    /// The members of a JSON object in the order sent, each key with its value's exact bytes;
    /// a key given twice is listed twice.
    static func members(_ raw: ArraySlice<UInt8>) throws(Failure) -> [(key: String, value: ArraySlice<UInt8>)] {
        try orderedMembers(raw).map { (key: $0.0, value: $0.1) }
    }
}
