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

    @Test("escapes at the start, the end and side by side, empty values, and bytes from any collection come out as a byte-by-byte escape would")
    func escapesAnywhere() {
        func reference(_ value: [UInt8]) -> [UInt8] {
            value.flatMap { b -> [UInt8] in
                switch b {
                case 0x5C: [0x5C, 0x5C]
                case 0x09: [0x5C, 0x74]
                case 0x0A: [0x5C, 0x6E]
                case 0x0D: [0x5C, 0x72]
                default: [b]
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        // Control characters that are not escaped, and plain letters enough for runs that span eight-byte words.
        let alphabet: [UInt8] = [0x5C, 0x09, 0x0A, 0x0D, 0x41, 0x7B, 0x22, 0xC3, 0xA9, 0x01, 0x1F, 0x20, 0x7F]
            + Array(repeating: Array("abcdefgh".utf8), count: 3).flatMap { $0 }
        var values: [[UInt8]] = [[], [0x5C], [0x0D, 0x0A], Array("\\tail\\".utf8), Array("\tlead".utf8)]
        for _ in 0..<2000 { values.append((0..<Int.random(in: 0...70, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }) }
        for value in values {
            var fromSlice = CopyTextWriter(), fromString = CopyTextWriter(), fromLazy = CopyTextWriter()
            fromSlice.field(bytes: value[...])
            fromString.field(String(decoding: value, as: UTF8.self))
            // A collection without contiguous storage takes the other path.
            fromLazy.field(bytes: value.lazy.map { $0 })
            #expect(fromSlice.bytes == reference(value))
            #expect(fromLazy.bytes == reference(value))
            #expect(fromString.bytes == reference(Array(String(decoding: value, as: UTF8.self).utf8)))
        }
    }

    @Test("an integer is written as its decimal text, from the smallest to the largest, and nil as NULL")
    func integers() {
        var generator = SystemRandomNumberGenerator()
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_000_000_007, .max, .min, .max - 1, .min + 1]
        for _ in 0..<2000 { values.append(Int64.random(in: .min ... .max, using: &generator) >> Int64.random(in: 0...62, using: &generator)) }
        for value in values {
            var w = CopyTextWriter()
            w.field("a")
            w.field(integer: value)
            w.field(integer: nil)
            w.endRow()
            #expect(String(decoding: w.bytes, as: UTF8.self) == "a\t\(value)\t\\N\n")
        }
    }

    @Test("columns written once and put into each row, first or last, come out as if each row had written them")
    func sharedColumns() {
        func writeShared(_ w: inout CopyTextWriter) {
            w.field("site\ta")
            w.field(nil)
            w.field("x\\y")
        }
        var shared = CopyTextWriter()
        writeShared(&shared)
        var together = CopyTextWriter(), each = CopyTextWriter()
        for row in ["1", "2\n"] {
            together.fields(written: shared, columns: 3)
            together.field(row)
            together.endRow()
            together.field(row)
            together.fields(written: shared, columns: 3)
            together.endRow()
            writeShared(&each)
            each.field(row)
            each.endRow()
            each.field(row)
            writeShared(&each)
            each.endRow()
        }
        #expect(together.bytes == each.bytes)
        #expect(String(decoding: together.bytes.prefix(18), as: UTF8.self) == "site\\ta\t\\N\tx\\\\y\t1\n")
        #expect(together.rowCount == 4)
    }
}
