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
        if !key.contains(0x5C) { return literals.firstIndex { $0.elementsEqual(key) } }
        guard let decoded = JSONFields.decodeString(key) else { return nil }
        return names.firstIndex(of: decoded)
    }
}
