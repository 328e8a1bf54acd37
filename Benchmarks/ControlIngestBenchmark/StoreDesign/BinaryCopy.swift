/// Rows in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`): the server
/// parses no text, so what a load costs is the table's, not the number formatting's.
///
/// Layout: an 11-byte signature, flags and header extension; per row the field count (int16),
/// then per field its length (int32, -1 for NULL) and its bytes in network order; an int16 -1
/// at the end. An array is its dimension count, a null flag, the element type's oid, per
/// dimension its size and lower bound, then each element as a field.
struct BinaryCopy {
    private(set) var bytes: [UInt8] = []
    private(set) var rowCount = 0

    enum ElementType: UInt32 {
        case int4 = 23
        case int8 = 20
        case float4 = 700
        case float8 = 701
    }

    init(capacity: Int = 1 << 20) {
        bytes.reserveCapacity(capacity)
        bytes.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        append32(0)
        append32(0)
    }

    /// The rows and the trailer, ready for `PostgresConnection.copy`.
    func finished() -> [UInt8] { bytes + [0xFF, 0xFF] }

    mutating func row(fields: Int) {
        append16(UInt16(fields))
        rowCount += 1
    }

    mutating func null() { append32(UInt32(bitPattern: -1)) }

    mutating func int16(_ value: Int16) {
        append32(2)
        append16(UInt16(bitPattern: value))
    }

    mutating func int32(_ value: Int32) {
        append32(4)
        append32(UInt32(bitPattern: value))
    }

    mutating func int64(_ value: Int64) {
        append32(8)
        append64(UInt64(bitPattern: value))
    }

    mutating func float8(_ value: Double) {
        append32(8)
        append64(value.bitPattern)
    }

    mutating func bytea(_ value: [UInt8]?) {
        guard let value else { return null() }
        append32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func text(_ value: String?) {
        guard let value else { return null() }
        let utf8 = Array(value.utf8)
        append32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// A one-dimensional bigint or int array.
    mutating func intArray(_ values: [Int64], as type: ElementType) {
        let width = type == .int8 ? 8 : 4
        arrayHeader(dimensions: [values.count], hasNull: false, type: type, payload: values.count * (4 + width))
        for v in values {
            append32(UInt32(width))
            if width == 8 { append64(UInt64(bitPattern: v)) } else { append32(UInt32(bitPattern: Int32(truncatingIfNeeded: v))) }
        }
    }

    /// A real or double precision array of `rows` × `columns` (one dimension when `rows` is nil), row-major; nil elements are NULL.
    mutating func floatArray(_ values: [Double?], rows: Int?, as type: ElementType) {
        let width = type == .float8 ? 8 : 4
        let present = values.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        let dimensions = rows.map { [$0, values.count / max($0, 1)] } ?? [values.count]
        arrayHeader(dimensions: dimensions, hasNull: present < values.count, type: type,
                    payload: values.count * 4 + present * width)
        for v in values {
            guard let v else {
                null()
                continue
            }
            append32(UInt32(width))
            if width == 8 { append64(v.bitPattern) } else { append32(Float(v).bitPattern) }
        }
    }

    private mutating func arrayHeader(dimensions: [Int], hasNull: Bool, type: ElementType, payload: Int) {
        append32(UInt32(12 + 8 * dimensions.count + payload))
        append32(UInt32(dimensions.count))
        append32(hasNull ? 1 : 0)
        append32(type.rawValue)
        for size in dimensions {
            append32(UInt32(size))
            append32(1)
        }
    }

    private mutating func append16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xFF))
    }

    private mutating func append32(_ v: UInt32) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func append64(_ v: UInt64) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
