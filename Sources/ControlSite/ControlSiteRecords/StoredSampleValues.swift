import POCareContract

/// The values of one stored sample as the batch readers take them: each parameter asked for,
/// coded with a letter for its JSON type (`n` and the number as sent, `s` and the text, `b` and
/// `true`/`false`), nil where the sample has no such value, the value is null, an object or an
/// array, or its quality says it was not read well.
///
/// The stored JSON text is parsed here, not in the database: turning every sample's `values`
/// into jsonb cost PostgreSQL about 45 µs a sample, most of a long batch's page. Each object is
/// scanned once, its keys compared as bytes with the parameters asked for; a key given twice
/// counts as its last value, as jsonb keeps it.
public struct StoredSampleValues {
    private let keys: JSONKeyTable
    public var parameters: [String] { keys.names }

    public init(parameters: [String]) { keys = JSONKeyTable(parameters) }

    /// The sample's columns: `values` and `quality` as stored (NULL quality: every value read
    /// well). Text that is not a JSON object gives no values, as jsonb's `->` gives none; quality
    /// that is JSON null or not an object names no parameter.
    public func coded(values: ArraySlice<UInt8>?, quality: ArraySlice<UInt8>?) -> [String?] {
        var raw = [ArraySlice<UInt8>?](repeating: nil, count: parameters.count)
        guard let values, (try? JSONFields.forEachMember(values, { key, value in
            if let i = keys.index(of: key) { raw[i] = value }
        })) != nil else { return raw.map { _ in nil } }
        if let quality {
            var notReadWell = raw.map { _ in false }
            if (try? JSONFields.forEachMember(quality, { key, _ in if let i = keys.index(of: key) { notReadWell[i] = true } })) != nil {
                for i in raw.indices where notReadWell[i] { raw[i] = nil }
            }
        }
        return raw.map { value -> String? in
            guard let value, let first = value.first else { return nil }
            switch first {
            case UInt8(ascii: "\""): return JSONFields.decodeString(value).map { "s" + $0 }
            case UInt8(ascii: "t"): return "btrue"
            case UInt8(ascii: "f"): return "bfalse"
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "n" + String(decoding: value, as: UTF8.self)
            default: return nil
            }
        }
    }
}
