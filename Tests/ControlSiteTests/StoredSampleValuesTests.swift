import ControlSiteRecords
import Testing
import TestSupport

/// The batch readers take each parameter out of a stored sample's JSON in Swift. PostgreSQL's
/// jsonb, which did this before, is the independent judge of what each value is.
@Suite("A stored sample's values, read in Swift as jsonb reads them")
struct StoredSampleValuesTests {
    static let parameters = ["t", "ph", "label", "flag", "off", "nothing", "object", "list", "missing", "esc"]

    /// Each case: `values` and `quality` as a site could have sent them.
    static let cases: [(values: String, quality: String?)] = [
        (#"{"t":37.05,"ph":7.2,"label":"running","flag":true,"off":false,"nothing":null,"object":{"a":1},"list":[1,2]}"#, nil),
        (#"{"t":-0.5,"ph":1e2,"esc":"a \"quoted\" \\ line\nand \u00e9"}"#, #"{"ph":"comm_error"}"#),
        (#"{"t":1,"t":2,"ph":3}"#, #"{"t":"bad","t":"bad"}"#),
        (#"{ "t" : 4.5E-3 , "label" : "" }"#, "null"),
        (#"{}"#, #"{}"#),
        (#"[1,2,3]"#, nil),
        (#""text""#, nil),
        (#"{"t":37}"#, #"[1]"#),
        (#"{"\u0074":5,"p\u0068":6}"#, #"{"\u0070h":"bad"}"#),
    ]

    @Test("numbers, labels, flags and absent values match jsonb's reading; quality takes a value out; a key given twice counts as its last")
    func matchesJSONB() throws {
        let postgres = try TestPostgres()
        let connection = try PostgresConnection(try postgres.createDatabase())
        for (values, quality) in Self.cases {
            let swift = StoredSampleValues(parameters: Self.parameters).coded(values: Array(values.utf8)[...], quality: quality.map { Array($0.utf8)[...] })
            let columns = Self.parameters.indices.map { i in
                let k = "$\(i + 3)::text"
                return """
                    CASE WHEN jsonb_typeof(v) <> 'object' THEN NULL WHEN jsonb_typeof(q) = 'object' AND q ? \(k) THEN NULL
                    ELSE CASE jsonb_typeof(v -> \(k)) WHEN 'number' THEN 'n' || (v ->> \(k)) WHEN 'string' THEN 's' || (v ->> \(k))
                    WHEN 'boolean' THEN 'b' || (v ->> \(k)) END END AS c\(i)
                    """
            }.joined(separator: ", ")
            let judged = try connection.execute("SELECT \(columns) FROM (SELECT $1::jsonb AS v, $2::jsonb AS q) x",
                                                [values, quality] + Self.parameters)
            for (i, parameter) in Self.parameters.enumerated() {
                let expected = judged.string(0, "c\(i)")
                // jsonb writes a number in its own form (1e2 as 100): compared as numbers.
                if let e = expected, e.hasPrefix("n"), let s = swift[i], s.hasPrefix("n") {
                    #expect(Double(e.dropFirst()) == Double(s.dropFirst()), "\(parameter) of \(values)")
                } else {
                    #expect(swift[i] == expected, "\(parameter) of \(values) with quality \(quality ?? "none")")
                }
            }
        }
    }
}
