import Acquisition
import POCareCore
import PropertyBased
import Testing

func register(_ id: String, _ address: Int, _ type: DataType = .uint16, table: RegisterTable = .holdingRegister)
    -> Parameter
{
    Parameter(id: id, name: id, unit: "1", table: table, address: address, dataType: type)
}

func limits(maxRegisters: Int = 125, maxBits: Int = 2000, maxGap: Int = 8) -> ModbusDefaults {
    ModbusDefaults(maxRegistersPerRequest: maxRegisters, maxBitsPerRequest: maxBits, maxGap: maxGap)
}

@Suite("Read planning")
struct ReadPlannerTests {
    @Test("parameters separated by a small gap share one request")
    func mergesSmallGaps() {
        let plan = ReadPlanner.plan(
            parameters: [register("a", 0), register("b", 5, .float32), register("c", 10)], unreadable: [],
            limits: limits(maxGap: 4))
        #expect(plan.requests.map(\.range) == [AddressRange(table: .holdingRegister, start: 0, count: 11)])
        #expect(plan.requests[0].parameterIndexes == [0, 1, 2])
    }

    @Test("a gap larger than the bound splits the request")
    func splitsLargeGaps() {
        let plan = ReadPlanner.plan(
            parameters: [register("a", 0), register("b", 10)], unreadable: [], limits: limits(maxGap: 8))
        #expect(plan.requests.map(\.range.start) == [0, 10])
    }

    @Test("a request never exceeds the device's register limit")
    func respectsRegisterLimit() {
        let parameters = (0..<40).map { register("p\($0)", $0 * 4, .float64) }
        let plan = ReadPlanner.plan(parameters: parameters, unreadable: [], limits: limits(maxRegisters: 32))
        #expect(plan.requests.count == 5)
        #expect(plan.requests.allSatisfy { $0.range.count <= 32 })
    }

    @Test("the protocol caps registers at 125 and bits at 2000 whatever the profile says")
    func protocolCaps() {
        let registers = (0..<200).map { register("r\($0)", $0) }
        let bits = (0..<3000).map { register("b\($0)", $0, .bool, table: .coil) }
        let plan = ReadPlanner.plan(parameters: registers + bits, unreadable: [], limits: limits(maxRegisters: 500, maxBits: 5000))
        #expect(plan.requests.filter { $0.range.table == .holdingRegister }.map(\.range.count) == [125, 75])
        #expect(plan.requests.filter { $0.range.table == .coil }.map(\.range.count) == [2000, 1000])
    }

    @Test("an unreadable address is never read through, even inside the gap bound")
    func neverBridgesUnreadable() {
        let plan = ReadPlanner.plan(
            parameters: [register("a", 0), register("b", 4)],
            unreadable: [AddressRange(table: .holdingRegister, start: 2, count: 1)], limits: limits(maxGap: 8))
        #expect(plan.requests.map(\.range.count) == [1, 1])
        let otherTable = ReadPlanner.plan(
            parameters: [register("a", 0), register("b", 4)],
            unreadable: [AddressRange(table: .inputRegister, start: 2, count: 1)], limits: limits(maxGap: 8))
        #expect(otherTable.requests.count == 1)
    }

    @Test("bits of one register are read once")
    func sharedRegisterBits() {
        let plan = ReadPlanner.plan(
            parameters: [register("run", 9, .bit(0)), register("alarm", 9, .bit(1))], unreadable: [], limits: limits())
        #expect(plan.requests.count == 1)
        #expect(plan.requests[0].range.count == 1)
        #expect(plan.requests[0].parameterIndexes == [0, 1])
    }

    @Test("tables are planned separately")
    func separateTables() {
        let plan = ReadPlanner.plan(
            parameters: [register("a", 0), register("b", 1, table: .inputRegister), register("c", 0, .bool, table: .coil)],
            unreadable: [], limits: limits())
        #expect(Set(plan.requests.map(\.range.table)) == [.holdingRegister, .inputRegister, .coil])
    }

    @Test("random profiles: every parameter read exactly once, within limits, never unreadable, fewest requests")
    func plannerProperties() async {
        let layout = zip(Gen.int(in: 0...2), Gen.int(in: 0...160), Gen.int(in: 0...5)).array(of: 1...25)
        await propertyCheck(
            count: 300, input: layout, Gen.int(in: 0...6), Gen.int(in: 4...40), Gen.int(in: 0...160)
        ) { layout, maxGap, maxRegisters, hole in
            let types: [DataType] = [.uint16, .float32, .float64, .string(registers: 3), .bit(2), .bit(5)]
            let tables: [RegisterTable] = [.holdingRegister, .inputRegister, .coil]
            var parameters: [Parameter] = []
            for (n, (t, address, k)) in layout.enumerated() {
                let table = tables[t]
                let type = table.isBitTable ? DataType.bool : types[k]
                let candidate = register("p\(n)", address, type, table: table)
                let clash = parameters.contains {
                    guard $0.addressRange.overlaps(candidate.addressRange) else { return false }
                    if case .bit(let x) = $0.dataType, case .bit(let y) = type { return x == y }
                    return true
                }
                if !clash { parameters.append(candidate) }
            }
            var unreadable = [AddressRange(table: .holdingRegister, start: hole, count: 2)]
            parameters.removeAll { unreadable[0].overlaps($0.addressRange) }
            unreadable.append(AddressRange(table: .coil, start: hole, count: 1))
            parameters.removeAll { unreadable[1].overlaps($0.addressRange) }
            let bounds = limits(maxRegisters: maxRegisters, maxBits: 50, maxGap: maxGap)
            let plan = ReadPlanner.plan(parameters: parameters, unreadable: unreadable, limits: bounds)

            var covered = [Int](repeating: 0, count: parameters.count)
            for request in plan.requests {
                let limit = request.range.table.isBitTable ? 50 : maxRegisters
                #expect(request.range.count <= limit)
                #expect(!unreadable.contains { $0.overlaps(request.range) })
                for index in request.parameterIndexes {
                    covered[index] += 1
                    #expect(request.range.contains(parameters[index].addressRange))
                }
            }
            #expect(covered.allSatisfy { $0 == 1 })
            #expect(plan.requests.count == minimalRequestCount(parameters, unreadable: unreadable, limits: bounds))
        }
    }

    @Test("the shipped profiles plan to the fewest requests their limits allow")
    func shippedProfilePlans() throws {
        let profiles = shippedProfiles()
        #expect(profiles.count >= 3)
        for profile in profiles {
            let plan = ReadPlanner.plan(profile)
            let fewest = minimalRequestCount(profile.parameters, unreadable: profile.unreadable, limits: profile.modbus)
            #expect(plan.requests.count == fewest, "\(profile.id): \(plan.requests.map(\.range))")
            #expect(plan.requests.flatMap(\.parameterIndexes).sorted() == Array(profile.parameters.indices))
        }
    }
}

/// Brute force: per table, the fewest contiguous groups (in address order) that each form a valid request.
func minimalRequestCount(_ parameters: [Parameter], unreadable: [AddressRange], limits: ModbusDefaults) -> Int {
    var total = 0
    for table in RegisterTable.allCases {
        let ranges = parameters.filter { $0.table == table }.map(\.addressRange)
            .sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        guard !ranges.isEmpty else { continue }
        let limit = min(table.isBitTable ? limits.maxBitsPerRequest : limits.maxRegistersPerRequest, table.protocolReadLimit)
        func feasible(_ i: Int, _ j: Int) -> Bool {
            var end = ranges[i].end
            for k in stride(from: i + 1, through: j, by: 1) {
                let gap = ranges[k].start - end
                if gap > limits.maxGap { return false }
                if gap > 0 && unreadable.contains(where: { $0.overlaps(AddressRange(table: table, start: end, count: gap)) }) {
                    return false
                }
                end = max(end, ranges[k].end)
            }
            return end - ranges[i].start <= limit
        }
        var best = [Int](repeating: Int.max, count: ranges.count + 1)
        best[0] = 0
        for j in 1...ranges.count {
            for i in 0..<j where best[i] != Int.max && feasible(i, j - 1) {
                best[j] = min(best[j], best[i] + 1)
            }
        }
        total += best[ranges.count]
    }
    return total
}
