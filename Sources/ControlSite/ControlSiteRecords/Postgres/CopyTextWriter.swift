/// Rows in PostgreSQL's COPY text format: tab between columns, newline after each row,
/// `\N` for NULL, and backslash, tab, newline and carriage return escaped inside values.
public struct CopyTextWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var rowCount = 0
    private var columnInRow = 0

    public init(capacity: Int = 1 << 20) { bytes.reserveCapacity(capacity) }

    public mutating func field(_ value: String?) {
        separate()
        guard let value else { return bytes.append(contentsOf: [0x5C, 0x4E]) }
        appendEscaped(value.utf8)
    }

    public mutating func field<Bytes: Collection>(bytes value: Bytes) where Bytes.Element == UInt8 {
        separate()
        appendEscaped(value)
    }

    public mutating func endRow() {
        bytes.append(0x0A)
        rowCount += 1
        columnInRow = 0
    }

    private mutating func separate() {
        if columnInRow > 0 { bytes.append(0x09) }
        columnInRow += 1
    }

    private mutating func appendEscaped<Bytes: Collection>(_ value: Bytes) where Bytes.Element == UInt8 {
        for byte in value {
            switch byte {
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            default: bytes.append(byte)
            }
        }
    }
}
