import POCareContract

/// The values of one stored sample as the batch readers take them: each parameter asked for,
/// coded with a letter for its JSON type (`n` and the number as sent, `s` and the text, `b` and
/// `true`/`false`), nil where the sample has no such value, the value is null, an object or an
/// array, or its quality says it was not read well.
///
/// The stored JSON text is parsed here, not in the database: turning every sample's `values`
/// into jsonb cost PostgreSQL about 45 µs a sample, most of a long batch's page. The fields
/// are scanned once a sample, and a key given twice counts as its last value, as jsonb keeps it.
public enum StoredSampleValues {
    /// The sample's columns: `values` and `quality` as stored (NULL quality: every value read
    /// well). Text that is not a JSON object gives no values, as jsonb's `->` gives none.
    public static func coded(values: ArraySlice<UInt8>?, quality: ArraySlice<UInt8>?, parameters: [String]) -> [String?] {
        guard let values, let fields = try? JSONFields(values) else { return parameters.map { _ in nil } }
        // Quality that is JSON null or not an object names no parameter.
        let notReadWell = quality.flatMap { try? JSONFields($0) }
        return parameters.map { parameter -> String? in
            if notReadWell?.has(parameter) == true { return nil }
            guard let raw = fields.raw(parameter), let first = raw.first else { return nil }
            switch first {
            case UInt8(ascii: "\""): return JSONFields.decodeString(raw).map { "s" + $0 }
            case UInt8(ascii: "t"): return "btrue"
            case UInt8(ascii: "f"): return "bfalse"
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "n" + String(decoding: raw, as: UTF8.self)
            default: return nil
            }
        }
    }
}
