import Foundation
import Hashing

/// What an archived month of samples holds, written beside its rows (docs/control-site.md,
/// "Months and archives"): enough to prove, on restore, that every row came back byte for byte,
/// and to read the file without PostgreSQL (COPY text: one row a line, columns by tab, `\N` null).
public struct SampleArchiveManifest: Codable, Equatable, Sendable {
    public static let formatName = "pocare-sample-archive/1"

    /// One stream's records in the month.
    public struct StreamRange: Codable, Equatable, Sendable {
        public var site: String
        public var epoch: String
        public var stream: String
        public var seqFrom: Int64
        public var seqTo: Int64
        public var samples: Int64
        /// The chain's anchors: the hash the first record names as its predecessor, and the last record's hash.
        public var firstPreviousHash: String?
        public var lastHash: String?
        /// SHA-256 over the stream's rows as COPY text lines (each with its newline), in number order.
        public var rowsSHA256: String

        enum CodingKeys: String, CodingKey {
            case site, epoch, stream, samples
            case seqFrom = "seq_from", seqTo = "seq_to", firstPreviousHash = "first_previous_hash", lastHash = "last_hash"
            case rowsSHA256 = "rows_sha256"
        }
    }

    public var format = Self.formatName
    /// `YYYY-MM` (UTC).
    public var month: String
    /// The partition's bounds, as PostgreSQL writes them.
    public var from: String
    public var to: String
    public var columns: [String]
    /// The rows' file, beside the manifest.
    public var file: String
    public var fileSHA256: String
    public var samples: Int64
    public var streams: [StreamRange]
    /// Every `site/batch` with samples in the month.
    public var batches: [String]
    public var archived: String
    public var archivedBy: String

    enum CodingKeys: String, CodingKey {
        case format, month, from, to, columns, file, samples, streams, batches, archived
        case fileSHA256 = "file_sha256", archivedBy = "archived_by"
    }

    public static func fileName(month: String) -> String { "samples-\(month).manifest.json" }
    public static func rowsFileName(month: String) -> String { "samples-\(month).copy" }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }
}

/// Per stream, what a manifest says of rows read in (site, epoch, stream, seq) order as COPY
/// text lines: computed the same way from the rows written out and from the rows restored.
struct StreamRowDigests {
    private let siteColumn: Int, epochColumn: Int, streamColumn: Int, seqColumn: Int, hashColumn: Int?, previousColumn: Int?
    private var key: [UInt8] = []
    private var current: SampleArchiveManifest.StreamRange?
    private var hasher = SHA256Stream()
    private(set) var ranges: [SampleArchiveManifest.StreamRange] = []
    private(set) var rows: Int64 = 0

    struct Malformed: Error, CustomStringConvertible { var description: String }

    init(columns: [String]) throws {
        func index(_ name: String) throws -> Int {
            guard let i = columns.firstIndex(of: name) else { throw Malformed(description: "the rows have no column \(name)") }
            return i
        }
        siteColumn = try index("site")
        epochColumn = try index("epoch")
        streamColumn = try index("stream")
        seqColumn = try index("seq")
        hashColumn = columns.firstIndex(of: "hash")
        previousColumn = columns.firstIndex(of: "previous_hash")
    }

    mutating func add(_ line: UnsafeRawBufferPointer) throws {
        let bytes = line.bindMemory(to: UInt8.self)
        var fields: [Range<Int>] = []
        var start = 0
        var end = bytes.count
        if end > 0, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        for i in 0..<end where bytes[i] == UInt8(ascii: "\t") {
            fields.append(start..<i)
            start = i + 1
        }
        fields.append(start..<end)
        let needed = [siteColumn, epochColumn, streamColumn, seqColumn, hashColumn ?? 0, previousColumn ?? 0].max()!
        guard fields.count > needed else { throw Malformed(description: "row \(rows + 1) has \(fields.count) columns") }
        func text(_ column: Int) -> String? {
            let range = fields[column]
            let raw = Array(bytes[range])
            return raw == Array("\\N".utf8) ? nil : Self.unescape(raw)
        }
        let rowKey = Array(bytes[fields[siteColumn].lowerBound..<fields[streamColumn].upperBound])
        guard let seq = text(seqColumn).flatMap({ Int64($0) }) else { throw Malformed(description: "row \(rows + 1) has no number") }
        if rowKey != key || current == nil {
            finishStream()
            key = rowKey
            hasher = SHA256Stream()
            current = .init(site: text(siteColumn) ?? "", epoch: text(epochColumn) ?? "", stream: text(streamColumn) ?? "",
                            seqFrom: seq, seqTo: seq, samples: 0, firstPreviousHash: previousColumn.flatMap(text), lastHash: nil,
                            rowsSHA256: "")
        }
        hasher.update(line)
        current!.seqTo = seq
        current!.samples += 1
        current!.lastHash = hashColumn.flatMap(text)
        rows += 1
    }

    mutating func finish() -> [SampleArchiveManifest.StreamRange] {
        finishStream()
        return ranges
    }

    private mutating func finishStream() {
        guard var range = current else { return }
        range.rowsSHA256 = hasher.finalHex()
        ranges.append(range)
        current = nil
    }

    /// COPY text's backslash escapes undone (names rarely have any).
    static func unescape(_ raw: [UInt8]) -> String {
        guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 1 < raw.count {
                let next = raw[i + 1]
                switch next {
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "v"): out.append(11)
                default: out.append(next)
                }
                i += 2
            } else {
                out.append(raw[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
