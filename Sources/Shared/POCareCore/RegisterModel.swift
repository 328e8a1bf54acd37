/// The four Modbus data tables a parameter can live in.
public enum RegisterTable: String, Sendable, Hashable, CaseIterable, Codable {
    case coil
    case discreteInput = "discrete_input"
    case inputRegister = "input_register"
    case holdingRegister = "holding_register"

    /// Coils and discrete inputs carry single bits; the other two carry 16-bit words.
    public var isBitTable: Bool { self == .coil || self == .discreteInput }

    /// The protocol's ceiling for one read request on this table (Modbus application protocol 1.1b3, 6.1-6.4).
    public var protocolReadLimit: Int { isBitTable ? 2000 : 125 }
}

/// The order in which the 16-bit words and bytes of a multi-register value arrive.
/// Letters name bytes from most to least significant: ABCD is big-endian words and bytes.
public enum WordOrder: String, Sendable, Hashable, CaseIterable, Codable {
    case abcd = "ABCD"
    case cdab = "CDAB"
    case badc = "BADC"
    case dcba = "DCBA"
}

/// How the raw registers or bits of one parameter are interpreted.
public enum DataType: Sendable, Hashable {
    case bool
    case bit(Int)
    case int16, uint16, int32, uint32, int64, uint64
    case float32, float64
    case string(registers: Int)

    /// Registers (or bits, in a bit table) the value occupies.
    public var registerCount: Int {
        switch self {
        case .bool, .bit, .int16, .uint16: 1
        case .int32, .uint32, .float32: 2
        case .int64, .uint64, .float64: 4
        case .string(let n): n
        }
    }

    /// Word order applies only to numbers spread over two or more registers.
    public var hasWordOrder: Bool {
        switch self {
        case .int32, .uint32, .float32, .int64, .uint64, .float64: true
        default: false
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .bool, .bit, .string: false
        default: true
        }
    }

    /// The spelling used in device profiles.
    public var profileName: String {
        switch self {
        case .bool: "bool"
        case .bit(let n): "bit\(n)"
        case .int16: "int16"
        case .uint16: "uint16"
        case .int32: "int32"
        case .uint32: "uint32"
        case .int64: "int64"
        case .uint64: "uint64"
        case .float32: "float32"
        case .float64: "float64"
        case .string(let n): "string\(n)"
        }
    }

    /// Parses `bool`, `bitN` (N 0-15), the integer and float names, and `stringN` (N registers).
    public init?(profileName: String) {
        switch profileName {
        case "bool": self = .bool
        case "int16": self = .int16
        case "uint16": self = .uint16
        case "int32": self = .int32
        case "uint32": self = .uint32
        case "int64": self = .int64
        case "uint64": self = .uint64
        case "float32": self = .float32
        case "float64": self = .float64
        default:
            func number(_ digits: Substring) -> Int? {
                guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                    digits == "0" || !digits.hasPrefix("0")
                else { return nil }
                return Int(digits)
            }
            if profileName.hasPrefix("bit"), let n = number(profileName.dropFirst(3)) {
                self = .bit(n)
            } else if profileName.hasPrefix("string"), let n = number(profileName.dropFirst(6)) {
                self = .string(registers: n)
            } else {
                return nil
            }
        }
    }
}

/// A contiguous run of addresses in one table.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    public var table: RegisterTable
    public var start: Int
    public var count: Int

    public init(table: RegisterTable, start: Int, count: Int) {
        self.table = table
        self.start = start
        self.count = count
    }

    /// One past the last address.
    public var end: Int { start + count }

    public func overlaps(_ other: AddressRange) -> Bool {
        table == other.table && start < other.end && other.start < end
    }

    public func contains(_ other: AddressRange) -> Bool {
        table == other.table && start <= other.start && other.end <= end
    }

    public var description: String { "\(table.rawValue) \(start)..<\(end)" }
}
