/// Names looked up by the bytes of a JSON object's key, for readers that scan many objects for
/// a few members (`JSONFields.forEachMember`): a key without escapes is compared as bytes with
/// each name's string literal, one written with escapes is decoded first.
public struct JSONKeyTable: Sendable {
    public let names: [String]
    /// Each name as the bytes of its JSON string literal, quotes included.
    private let literals: [[UInt8]]

    public init(_ names: [String]) {
        self.names = names
        literals = names.map { Array("\"\($0)\"".utf8) }
    }

    /// The position in `names` of the name a key (its string literal) spells; nil for none.
    public func index(of key: ArraySlice<UInt8>) -> Int? {
        key.withUnsafeBufferPointer { index(of: $0) }
    }

    /// As above, for a key lent in place.
    public func index(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        // Compared in place, lengths first: every member of every sample is looked up here.
        let found = literals.firstIndex { literal in literal.withUnsafeBufferPointer { JSONFields.same(key, $0) } }
        // A literal has no escapes, so only a key written with them can still spell a name.
        guard found == nil, key.contains(0x5C), let decoded = JSONFields.decodeString(ArraySlice(key)) else { return found }
        return names.firstIndex(of: decoded)
    }
}

extension JSONFields {
    /// Whether two runs of bytes are the same, lengths compared first.
    @inlinable
    public static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
    }

    /// Whether a key's string literal is exactly `"name"`, with no escapes: then the name is its
    /// bytes, and a reader that already holds the name needs neither to decode the key nor to make a String.
    public static func spells(_ key: ArraySlice<UInt8>, _ name: String) -> Bool {
        var name = name
        return name.withUTF8 { utf8 in
            guard key.count == utf8.count + 2, key.first == 0x22, key.last == 0x22 else { return false }
            return key.withUnsafeBufferPointer { key in
                // One pass: each byte the same, and none a quote or the backslash of an escape.
                for i in 0..<utf8.count {
                    let byte = utf8[i]
                    if byte != key[i + 1] || byte == 0x22 || byte == 0x5C { return false }
                }
                return true
            }
        }
    }
}
