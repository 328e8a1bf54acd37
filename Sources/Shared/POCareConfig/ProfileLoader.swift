import Foundation
import POCareCore
import Yams

/// Reads device profiles (`DeviceProfiles/*.yaml`) and checks them the way a reviewer would:
/// every problem is reported with file, line, column and field, not just the first one.
public enum ProfileLoader {
    public struct Result: Sendable {
        public var profile: DeviceProfile?
        public var diagnostics: [Diagnostic]
    }

    static let topKeys = ["profile", "vendor", "model", "firmware", "description", "modbus", "monitoring", "unreadable", "parameters"]
    static let monitoringKeys = ["stale_after", "stale_priority", "communication_loss_polls", "communication_priority"]
    /// The longest stale time a profile may set.
    static let maxStaleAfter = Duration.seconds(7 * 86_400)
    static let modbusKeys = [
        "unit_id", "word_order", "max_registers_per_request", "max_bits_per_request", "max_gap",
        "response_timeout", "pause_between_requests",
    ]
    static let parameterKeys = [
        "id", "name", "unit", "table", "address", "type", "word_order", "scale", "offset", "enum", "writable",
        "stale_after", "description",
    ]
    static let rangeKeys = ["table", "start", "count"]

    /// Loads and validates a profile file; the profile is nil when any error was found.
    public static func load(path: String) -> Result {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            return Result(profile: nil, diagnostics: [
                Diagnostic(file: path, line: 1, column: 1, field: "(file)", message: "cannot read file: \(error.localizedDescription)")
            ])
        }
        return parse(text, file: path)
    }

    /// Loads a profile or throws every diagnostic.
    public static func require(path: String) throws -> DeviceProfile {
        let result = load(path: path)
        guard let profile = result.profile else { throw ValidationFailed(result.diagnostics) }
        return profile
    }

    public static func parse(_ text: String, file: String) -> Result {
        let collector = DiagnosticCollector(file: file)
        guard let root = collector.compose(text), let top = MappingReader(root, path: "", collector: collector) else {
            return Result(profile: nil, diagnostics: collector.diagnostics)
        }
        top.rejectUnknownKeys(allowed: topKeys)
        let id = top.string("profile", required: true)
        if let id, !isIdentifier(id) {
            collector.error("profile", "'\(id)' is not a valid id: use lower-case letters, digits, '-' and '_'")
        }
        let vendor = top.string("vendor", required: true)
        let model = top.string("model", required: true)
        let firmware = top.string("firmware") ?? "any"
        _ = top.string("description")

        let modbus = parseModbus(top.mappingReader("modbus"), collector: collector)
        let monitoring = parseMonitoring(top.mappingReader("monitoring"), collector: collector)
        let unreadable = (top.sequence("unreadable") ?? []).enumerated().compactMap { index, node in
            parseRange(node, path: "unreadable[\(index)]", collector: collector)
        }

        var parameters: [Parameter] = []
        let parameterNodes = top.sequence("parameters", required: true) ?? []
        if top.has("parameters") && parameterNodes.isEmpty {
            collector.error("parameters", "a profile needs at least one parameter")
        }
        for (index, node) in parameterNodes.enumerated() {
            if let parameter = parseParameter(node, path: "parameters[\(index)]", defaults: modbus, collector: collector) {
                parameters.append(parameter)
            } else {
                parameters.append(Parameter(id: "", name: "", unit: "", table: .coil, address: -1, dataType: .bool))
            }
        }
        checkCrossParameterRules(parameters, unreadable: unreadable, modbus: modbus, collector: collector)

        guard !collector.hasErrors, let id, let vendor, let model else {
            return Result(profile: nil, diagnostics: collector.diagnostics)
        }
        var profile = DeviceProfile(
            id: id, vendor: vendor, model: model, firmware: firmware, modbus: modbus,
            unreadable: unreadable, parameters: parameters)
        profile.monitoring = monitoring
        return Result(profile: profile, diagnostics: collector.diagnostics)
    }

    /// Stale times and communication loss, watched whether or not a batch runs.
    private static func parseMonitoring(_ reader: MappingReader?, collector: DiagnosticCollector) -> DeviceMonitoring {
        var monitoring = DeviceMonitoring()
        guard let reader else { return monitoring }
        reader.rejectUnknownKeys(allowed: monitoringKeys)
        if let stale = staleTime(reader, path: "monitoring.stale_after", collector: collector) { monitoring.staleAfter = stale }
        for (key, assign) in [
            ("stale_priority", { monitoring.stalePriority = $0 }),
            ("communication_priority", { (p: AlarmPriority) in monitoring.communicationPriority = p }),
        ] as [(String, (AlarmPriority) -> Void)] {
            guard let text = reader.string(key) else { continue }
            if let priority = AlarmPriority(rawValue: text) {
                assign(priority)
            } else {
                collector.error("monitoring.\(key)", "unknown priority '\(text)'; expected low, medium, high or critical")
            }
        }
        if let polls = reader.int("communication_loss_polls", in: 1...1000) { monitoring.communicationLossPolls = polls }
        return monitoring
    }

    /// A stale time: above 0, at most a week.
    private static func staleTime(_ reader: MappingReader, path: String, collector: DiagnosticCollector) -> Duration? {
        guard let stale = reader.duration("stale_after") else { return nil }
        guard stale > .zero, stale <= maxStaleAfter else {
            collector.error(path, "stale_after must be above 0 and at most 7 days (168h)")
            return nil
        }
        return stale
    }

    private static func parseModbus(_ reader: MappingReader?, collector: DiagnosticCollector) -> ModbusDefaults {
        var modbus = ModbusDefaults()
        guard let reader else { return modbus }
        reader.rejectUnknownKeys(allowed: modbusKeys)
        if let v = reader.int("unit_id", in: 0...255) { modbus.unitId = v }
        if let text = reader.string("word_order") {
            if let order = WordOrder(rawValue: text) {
                modbus.wordOrder = order
            } else {
                collector.error("modbus.word_order", "unknown word order '\(text)'; expected ABCD, CDAB, BADC or DCBA")
            }
        }
        if let v = reader.int("max_registers_per_request", in: 1...125) { modbus.maxRegistersPerRequest = v }
        if let v = reader.int("max_bits_per_request", in: 1...2000) { modbus.maxBitsPerRequest = v }
        if let v = reader.int("max_gap", in: 0...124) { modbus.maxGap = v }
        if let v = reader.duration("response_timeout") {
            if v < .milliseconds(1) || v > .seconds(60) {
                collector.error("modbus.response_timeout", "must be between 1ms and 60s")
            } else {
                modbus.responseTimeout = v
            }
        }
        if let v = reader.duration("pause_between_requests") {
            if v > .seconds(10) {
                collector.error("modbus.pause_between_requests", "must be at most 10s")
            } else {
                modbus.pauseBetweenRequests = v
            }
        }
        return modbus
    }

    private static func parseTable(_ reader: MappingReader, collector: DiagnosticCollector) -> RegisterTable? {
        guard let text = reader.string("table", required: true) else { return nil }
        guard let table = RegisterTable(rawValue: text) else {
            collector.error(
                reader.fieldPath("table"),
                "unknown table '\(text)'; expected coil, discrete_input, input_register or holding_register")
            return nil
        }
        return table
    }

    private static func parseRange(_ node: Node, path: String, collector: DiagnosticCollector) -> AddressRange? {
        guard let reader = MappingReader(node, path: path, collector: collector) else { return nil }
        reader.rejectUnknownKeys(allowed: rangeKeys)
        let table = parseTable(reader, collector: collector)
        let start = reader.int("start", required: true, in: 0...65535)
        let count = reader.int("count", required: true, in: 1...65536)
        guard let table, let start, let count else { return nil }
        if start + count > 65536 {
            collector.error("\(path).count", "range \(start)..<\(start + count) runs past address 65535")
            return nil
        }
        return AddressRange(table: table, start: start, count: count)
    }

    /// A parameter's fields as written, before the rules that relate them are checked.
    private struct ParameterFields {
        var id: String?
        var name: String
        var unit: String?
        var table: RegisterTable
        var address: Int
        var dataType: DataType
        /// The word order the parameter names itself (nil: the profile's default applies).
        var explicitOrder: String?
        var wordOrder: WordOrder
        var scale: Double?
        var offset: Double?
        var writable: Bool
        var staleAfter: Duration?
        var enumeration: [Int: String]?
    }

    private static func parseParameter(
        _ node: Node, path: String, defaults: ModbusDefaults, collector: DiagnosticCollector
    ) -> Parameter? {
        guard let reader = MappingReader(node, path: path, collector: collector) else { return nil }
        reader.rejectUnknownKeys(allowed: parameterKeys)
        let id = reader.string("id", required: true)
        if let id, !isIdentifier(id) {
            collector.error("\(path).id", "'\(id)' is not a valid id: use lower-case letters, digits, '-' and '_'")
        }
        let name = reader.string("name") ?? id ?? ""
        let unit = reader.string("unit")
        _ = reader.string("description")
        let table = parseTable(reader, collector: collector)
        let address = reader.int("address", required: true)
        let dataType = parseDataType(reader, path: path, collector: collector)
        let explicitOrder = reader.string("word_order")
        let wordOrder = parseWordOrder(explicitOrder, default: defaults.wordOrder, path: path, collector: collector)
        let scale = reader.double("scale")
        let offset = reader.double("offset")
        let writable = reader.bool("writable") ?? false
        let staleAfter = staleTime(reader, path: "\(path).stale_after", collector: collector)
        let enumeration = parseEnumeration(reader, path: path, collector: collector)

        guard let table, let address, let dataType else { return nil }
        let fields = ParameterFields(
            id: id, name: name, unit: unit, table: table, address: address, dataType: dataType,
            explicitOrder: explicitOrder, wordOrder: wordOrder, scale: scale, offset: offset, writable: writable,
            staleAfter: staleAfter, enumeration: enumeration)
        checkPlacement(fields, defaults: defaults, path: path, collector: collector)
        checkFieldsAgree(fields, path: path, collector: collector)
        // Returned even when a rule above failed, so that checks across parameters
        // (duplicates, overlaps) still run and every problem is reported at once.
        guard let id else { return nil }
        // An address outside the protocol's range is reported above; as -1 it stays out of
        // the checks across parameters, whose address arithmetic it would overflow.
        let placedAddress = (0...65535).contains(address) && address + dataType.registerCount - 1 <= 65535 ? address : -1
        return Parameter(
            id: id, name: name, unit: unit ?? "", table: table, address: placedAddress, dataType: dataType,
            wordOrder: wordOrder, scale: scale ?? 1, offset: offset ?? 0, enumeration: enumeration,
            writable: writable, staleAfter: staleAfter)
    }

    private static func parseDataType(_ reader: MappingReader, path: String, collector: DiagnosticCollector) -> DataType? {
        guard let typeName = reader.string("type", required: true) else { return nil }
        let dataType = DataType(profileName: typeName)
        if dataType == nil {
            collector.error(
                "\(path).type",
                "unknown type '\(typeName)'; expected bool, bit0-bit15, int16, uint16, int32, uint32, int64, uint64, float32, float64 or stringN"
            )
        }
        return dataType
    }

    private static func parseWordOrder(
        _ explicitOrder: String?, default defaultOrder: WordOrder, path: String, collector: DiagnosticCollector
    ) -> WordOrder {
        guard let explicitOrder else { return defaultOrder }
        if let order = WordOrder(rawValue: explicitOrder) { return order }
        collector.error("\(path).word_order", "unknown word order '\(explicitOrder)'; expected ABCD, CDAB, BADC or DCBA")
        return defaultOrder
    }

    /// The labels of an enumerated parameter, by code (nil: the parameter is not enumerated).
    private static func parseEnumeration(_ reader: MappingReader, path: String, collector: DiagnosticCollector) -> [Int: String]? {
        guard let enumReader = reader.mappingReader("enum") else { return nil }
        var labels: [Int: String] = [:]
        for (key, value) in enumReader.mapping {
            let keyText = key.scalar?.string ?? ""
            guard let code = parseInteger(keyText) else {
                collector.error("\(path).enum", at: key.mark, "enumeration code '\(keyText)' is not a whole number")
                continue
            }
            guard let label = value.scalar?.string, !label.isEmpty else {
                collector.error("\(path).enum.\(keyText)", at: value.mark, "enumeration label must be text")
                continue
            }
            labels[code] = label
        }
        return labels
    }

    /// Where the parameter sits: its address in the protocol's range, its type in the table.
    private static func checkPlacement(
        _ f: ParameterFields, defaults: ModbusDefaults, path: String, collector: DiagnosticCollector
    ) {
        func fail(_ field: String, _ message: String) { collector.error("\(path).\(field)", message) }
        let dataType = f.dataType
        if f.address < 0 || f.address > 65535 {
            fail("address", "address \(f.address) is out of range 0...65535")
        } else if f.address + dataType.registerCount - 1 > 65535 {
            fail("address", "\(dataType.profileName) at \(f.address) runs past address 65535")
        }
        switch dataType {
        case .bit(let n) where !(0...15).contains(n):
            fail("type", "bit index \(n) is out of range 0...15")
        case .string(let n) where !(1...defaults.maxRegistersPerRequest).contains(n):
            fail("type", "string length \(n) registers is out of range 1...\(defaults.maxRegistersPerRequest) (one request)")
        default: break
        }
        if f.table.isBitTable && dataType != .bool {
            fail("type", "\(f.table.rawValue) holds single bits; only type bool fits, not \(dataType.profileName)")
        }
        if !f.table.isBitTable && dataType == .bool {
            fail("type", "bool needs a coil or discrete_input; use bitN for one bit of a register")
        }
        if !f.table.isBitTable && dataType.registerCount > defaults.maxRegistersPerRequest {
            fail("type", "\(dataType.profileName) needs \(dataType.registerCount) registers but modbus.max_registers_per_request is \(defaults.maxRegistersPerRequest)")
        }
    }

    /// The fields that only make sense together: word order, unit, scale, enumeration, stale
    /// time and writability against the type and table.
    private static func checkFieldsAgree(_ f: ParameterFields, path: String, collector: DiagnosticCollector) {
        func fail(_ field: String, _ message: String) { collector.error("\(path).\(field)", message) }
        let dataType = f.dataType
        if f.explicitOrder != nil && !dataType.hasWordOrder {
            fail("word_order", "word order applies only to 32- and 64-bit types, not \(dataType.profileName)")
        }
        if dataType.isNumeric && f.enumeration == nil && (f.unit ?? "").isEmpty {
            fail("unit", "missing unit for numeric parameter '\(f.id ?? "?")' (use \"1\" for a dimensionless count)")
        }
        if !dataType.isNumeric && (f.scale != nil || f.offset != nil) {
            fail(f.scale != nil ? "scale" : "offset", "scale and offset apply only to numeric types, not \(dataType.profileName)")
        }
        if f.scale == 0 { fail("scale", "scale must not be 0") }
        if f.enumeration != nil {
            switch dataType {
            case .int16, .uint16, .int32, .uint32, .int64, .uint64, .bool, .bit: break
            default: fail("enum", "an enumeration needs an integer, bool or bit type, not \(dataType.profileName)")
            }
        }
        if f.staleAfter != nil && (!dataType.isNumeric || f.enumeration != nil) {
            fail("stale_after", "a stale time applies to a number, not to \(f.enumeration != nil ? "an enumerated state" : dataType.profileName)")
        }
        if f.writable && !(f.table == .coil || f.table == .holdingRegister) {
            fail("writable", "\(f.table.rawValue) is read-only in Modbus; only coils and holding registers can be written")
        }
    }

    private static func checkCrossParameterRules(
        _ parameters: [Parameter], unreadable: [AddressRange], modbus: ModbusDefaults, collector: DiagnosticCollector
    ) {
        var firstIndex: [String: Int] = [:]
        for (index, p) in parameters.enumerated() where !p.id.isEmpty {
            if let first = firstIndex[p.id] {
                collector.error("parameters[\(index)].id", "duplicate id '\(p.id)' (first used by parameters[\(first)])")
            } else {
                firstIndex[p.id] = index
            }
        }
        reportOverlaps(parameters, collector: collector)
        reportUnreadable(parameters, unreadable: unreadable, collector: collector)
    }

    /// Overlapping parameters, found by sorting by address and sweeping (a profile of 70,000
    /// parameters is checked in a fraction of a second; pairwise it took minutes). Each
    /// conflict is reported at the parameter that comes later in the file.
    private static func reportOverlaps(_ parameters: [Parameter], collector: DiagnosticCollector) {
        let order = parameters.indices.filter { parameters[$0].address >= 0 }.sorted {
            let a = parameters[$0].addressRange, b = parameters[$1].addressRange
            if a.table != b.table { return a.table.rawValue < b.table.rawValue }
            return a.start != b.start ? a.start < b.start : $0 < $1
        }
        // Parameters whose range reaches the current address. At most 17 can share a register
        // legitimately (16 bits and the word holding them); beyond that every newcomer
        // conflicts anyway, so the list keeps its newest entries and the one reaching furthest.
        var active: [Int] = []
        let activeLimit = 32
        for current in order {
            let range = parameters[current].addressRange
            active.removeAll {
                let other = parameters[$0].addressRange
                return other.table != range.table || other.end <= range.start
            }
            for other in active where !sharesRegisterLegitimately(parameters[other].dataType, parameters[current].dataType) {
                let (earlier, later) = other < current ? (other, current) : (current, other)
                let a = parameters[earlier], b = parameters[later]
                collector.error(
                    "parameters[\(later)].address",
                    "\(b.addressRange) of '\(b.id)' overlaps \(a.addressRange) of '\(a.id)' (parameters[\(earlier)])")
                break
            }
            active.append(current)
            if active.count > activeLimit {
                let furthest = active.max { parameters[$0].addressRange.end < parameters[$1].addressRange.end }!
                active = Array(active.suffix(activeLimit / 2))
                if !active.contains(furthest) { active.insert(furthest, at: 0) }
            }
        }
    }

    /// Parameters inside a range the device cannot read, by binary search over the ranges
    /// sorted by start (with the furthest end reached so far, as ranges may nest).
    private static func reportUnreadable(_ parameters: [Parameter], unreadable: [AddressRange], collector: DiagnosticCollector) {
        guard !unreadable.isEmpty else { return }
        var byTable: [RegisterTable: (starts: [Int], furthest: [(end: Int, index: Int)])] = [:]
        for table in Set(unreadable.map(\.table)) {
            let sorted = unreadable.indices.filter { unreadable[$0].table == table }.sorted { unreadable[$0].start < unreadable[$1].start }
            var furthest: [(end: Int, index: Int)] = []
            for index in sorted {
                let end = unreadable[index].end
                if let last = furthest.last, last.end >= end { furthest.append(last) } else { furthest.append((end, index)) }
            }
            byTable[table] = (sorted.map { unreadable[$0].start }, furthest)
        }
        for (ia, a) in parameters.enumerated() where a.address >= 0 {
            let range = a.addressRange
            guard let ranges = byTable[range.table] else { continue }
            // The last unreadable range starting before this parameter ends.
            var low = 0, high = ranges.starts.count
            while low < high {
                let mid = (low + high) / 2
                if ranges.starts[mid] < range.end { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { continue }
            let reach = ranges.furthest[low - 1]
            if reach.end > range.start {
                collector.error("parameters[\(ia)].address", "'\(a.id)' lies in unreadable[\(reach.index)] (\(unreadable[reach.index]))")
            }
        }
    }

    /// Different bits of one register may be separate parameters, and so may a 16-bit
    /// status word and the bits inside it.
    static func sharesRegisterLegitimately(_ a: DataType, _ b: DataType) -> Bool {
        switch (a, b) {
        case (.bit(let x), .bit(let y)): x != y
        case (.bit, .uint16), (.bit, .int16), (.uint16, .bit), (.int16, .bit): true
        default: false
        }
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64
            && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }
}
