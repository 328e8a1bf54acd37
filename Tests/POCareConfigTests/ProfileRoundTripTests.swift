import POCareConfig
import POCareCore
import PropertyBased
import Testing

/// Writes a parameter the way an engineer would, in flow style, with keys in a given order.
func yamlLine(_ p: Parameter, keyOrder: [Int]) -> String {
    var fields = [
        "id: \(p.id)", "name: \"\(p.name)\"", "table: \(p.table.rawValue)", "address: \(p.address)",
        "type: \(p.dataType.profileName)",
    ]
    if !p.unit.isEmpty { fields.append("unit: \"\(p.unit)\"") }
    if p.dataType.hasWordOrder { fields.append("word_order: \(p.wordOrder.rawValue)") }
    if p.dataType.isNumeric {
        fields.append("scale: \(p.scale)")
        fields.append("offset: \(p.offset)")
    }
    var seen = Set<Int>()
    let keyOrder = keyOrder.filter { seen.insert($0).inserted }
    let ordered = keyOrder.filter { $0 < fields.count }.map { fields[$0] }
        + fields.indices.filter { !keyOrder.contains($0) }.map { fields[$0] }
    return "  - { \(ordered.joined(separator: ", ")) }"
}

@Suite("Device profile parsing, property-based")
struct ProfileRoundTripTests {
    @Test("any well-formed profile reads back exactly, whatever the key order")
    func roundTrip() async {
        let layout = zip(Gen.int(in: 0...10), Gen.int(in: 0...3), Gen.int(in: -3...3), Gen.int(in: 0...2))
            .array(of: 1...20)
        await propertyCheck(count: 200, input: layout, Gen.int(in: 0...6).array(of: 7)) { layout, keyOrder in
            let types: [DataType] = [
                .int16, .uint16, .int32, .uint32, .int64, .uint64, .float32, .float64, .string(registers: 4), .bit(3),
                .bool,
            ]
            var parameters: [Parameter] = []
            var next = [RegisterTable: Int]()
            for (n, (t, order, exponent, gap)) in layout.enumerated() {
                let type = types[t]
                let table: RegisterTable = type == .bool ? .coil : (n.isMultiple(of: 2) ? .holdingRegister : .inputRegister)
                let address = next[table, default: 0] + gap
                next[table] = address + type.registerCount
                let numeric = type.isNumeric
                parameters.append(Parameter(
                    id: "p\(n)", name: "Parameter \(n)", unit: numeric ? "mL" : "", table: table, address: address,
                    dataType: type, wordOrder: type.hasWordOrder ? WordOrder.allCases[order] : .abcd,
                    scale: numeric ? Double(sign: .plus, exponent: exponent, significand: 1) : 1,
                    offset: numeric ? Double(order) - 1.5 : 0))
            }
            let yaml = """
                profile: generated
                vendor: Test
                model: Generated
                parameters:
                \(parameters.map { yamlLine($0, keyOrder: keyOrder) }.joined(separator: "\n"))
                """
            let result = ProfileLoader.parse(yaml, file: "generated.yaml")
            #expect(result.diagnostics.isEmpty, "\(result.diagnostics)\n\(yaml)")
            #expect(result.profile?.parameters == parameters)
        }
    }
}
