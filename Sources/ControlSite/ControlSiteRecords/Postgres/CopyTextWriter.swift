import POCareContract

/// Rows in PostgreSQL's COPY text format: tab between columns, newline after each row,
/// `\N` for NULL, and backslash, tab, newline and carriage return escaped inside values.
public struct CopyTextWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var rowCount = 0
    private var columnInRow = 0

    public init(capacity: Int = 1 << 20) { bytes.reserveCapacity(capacity) }

    public mutating func field(_ value: String?) {
        separate()
        guard let value else { return appendNull() }
        // In place: a row has a dozen strings, and going through the generic collection cost
        // more than the copy. Native strings lend their bytes without being copied first.
        if value.utf8.withContiguousStorageIfAvailable({ appendEscaped(buffer: $0) }) == nil {
            var value = value
            value.withUTF8 { appendEscaped(buffer: $0) }
        }
    }

    /// An integer in decimal, written in place: a row has three, and making a string of each
    /// cost more than writing its digits.
    public mutating func field(integer value: Int64?) {
        separate()
        guard let value else { return appendNull() }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = 0x30 + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { bytes.append(0x2D) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    private mutating func appendNull() {
        bytes.append(0x5C)
        bytes.append(0x4E)
    }

    /// `columns` fields another writer holds (written with `field`, no `endRow`), put into this
    /// row as they are: the columns every row of a message shares are escaped once, not once a row.
    public mutating func fields(written other: CopyTextWriter, columns: Int) {
        guard columns > 0 else { return }
        separate()
        bytes.append(contentsOf: other.bytes)
        columnInRow += columns - 1
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
        if value.withContiguousStorageIfAvailable({ appendEscaped(buffer: $0) }) == nil {
            Array(value).withUnsafeBufferPointer { appendEscaped(buffer: $0) }
        }
    }

    /// The runs between bytes that need escaping are appended whole, found eight bytes at a
    /// time: a value rarely has any, and a byte at a time was most of the time spent writing rows.
    private mutating func appendEscaped(buffer: UnsafeBufferPointer<UInt8>) {
        var start = 0, i = 0
        while true {
            // Past bytes that are neither a backslash nor a control character (which holds tab, newline and return).
            i = JSONStringRun.endWithoutQuotes(in: buffer, from: i)
            guard i < buffer.count else { break }
            let escaped: UInt8
            switch buffer[i] {
            case 0x5C: escaped = 0x5C
            case 0x09: escaped = 0x74
            case 0x0A: escaped = 0x6E
            case 0x0D: escaped = 0x72
            default:
                i += 1
                continue
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<i]))
            bytes.append(0x5C)
            bytes.append(escaped)
            i += 1
            start = i
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...]))
    }
}
