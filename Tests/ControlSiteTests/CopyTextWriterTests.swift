import ControlSiteRecords
import POCareContract
import Testing
import TestSupport

@Suite("COPY text format")
struct CopyTextWriterTests {
    @Test("tabs separate fields, newlines end rows, NULL is \\N, special bytes are escaped")
    func format() {
        var w = CopyTextWriter()
        w.field("a\tb")
        w.field(nil)
        w.field("c\\d\ne")
        w.endRow()
        #expect(String(decoding: w.bytes, as: UTF8.self) == "a\\tb\t\\N\tc\\\\d\\ne\n")
        #expect(w.rowCount == 1)
    }
}
