import POCareCore

/// The contract's rules for a telemetry sample's fields beyond the envelope: `values` an object
/// of plain values (a number, a flag, a label or text, or null) with each key once, `quality` an
/// object of quality names, and times that are UTC times.
enum SampleChecks {
    /// The keys of a message's samples as last read: a device sends the same keys in every
    /// sample, so a sample whose keys are byte for byte the last one's reuses its checked names.
    struct KeysSeen {
        var literals: [ArraySlice<UInt8>] = []
        var names: [String] = []
    }

    /// The keys of `values`, in order, and each value as read (`SampleFields.readValues`; nil
    /// where one is not a plain value, then left to whoever reads the bytes); throws what breaks
    /// the rules.
    static func values(
        _ raw: ArraySlice<UInt8>?, limit: Int, seen: inout KeysSeen, _ malformed: (String) -> ContractMessage.Failure
    ) throws(ContractMessage.Failure) -> (names: [String], read: [Value?]?) {
        guard let raw else { return ([], nil) }
        let earlier = seen.literals
        // Each key is compared with the one in its place in the sample before as it is read; the
        // keys are listed only from the first that differs (most samples have none).
        var count = 0
        var differs = false
        var literals: [ArraySlice<UInt8>] = []
        var container: ArraySlice<UInt8>?
        // Read here, in the one pass over the values the message's reader makes anyway.
        var read: [Value?] = []
        read.reserveCapacity(earlier.count)
        var plain = true
        // Where the object breaks is not needed: the message was read as strict JSON already.
        do {
            try JSONFields.forEachMember(raw) { key, value in
                if plain {
                    if let value = Self.plainValue(value) { read.append(value) } else { plain = false }
                }
                if !differs, count < earlier.count, Self.same(key, earlier[count]) {
                    // The same key as before, in the same place.
                } else {
                    if !differs {
                        differs = true
                        literals = Array(earlier.prefix(count))
                    }
                    literals.append(key)
                }
                count += 1
                if container == nil, value.first == 0x7B || value.first == 0x5B { container = key }
            }
        } catch {
            throw malformed("values: expected an object of parameter values")
        }
        guard count <= limit else { throw malformed("\(count) values; the contract allows \(limit) in a sample") }
        let names: [String]
        if !differs, count == earlier.count {
            names = seen.names
        } else {
            if !differs { literals = Array(earlier.prefix(count)) }
            var decoded: [String] = []
            decoded.reserveCapacity(literals.count)
            var unique = Set<String>()
            unique.reserveCapacity(literals.count)
            for literal in literals {
                guard let name = JSONFields.decodeString(literal) else { throw malformed("values: expected an object of parameter values") }
                guard unique.insert(name).inserted else { throw malformed("values: '\(name.prefix(64))' is given twice") }
                decoded.append(name)
            }
            names = decoded
            seen = KeysSeen(literals: literals, names: names)
        }
        if let container, let name = JSONFields.decodeString(container) {
            throw malformed("values: '\(name.prefix(64))' must be a number, a flag, a label or null")
        }
        return (names, plain ? read : nil)
    }

    /// A value from its bytes, for the message's reader and the hash's own reading alike
    /// (`WireRecordHash`): `.some(nil)` for null; nil for what is not a plain value (text that
    /// cannot be decoded, a number that is not finite).
    static func plainValue(_ text: ArraySlice<UInt8>) -> Value?? {
        switch text.first {
        case 0x6E?: return .some(nil)
        case 0x74?: return .some(Value.flag(true))
        case 0x66?: return .some(Value.flag(false))
        case 0x22?:
            guard let text = JSONFields.decodeString(text) else { return nil }
            return .some(Value.text(text))
        default:
            guard let number = JSONNumber.double(text), number.isFinite else { return nil }
            return .some(Value.number(number))
        }
    }

    private static func same(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { JSONFields.same(a, $0) } }
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
