import Acquisition
import POCareCore
import PropertyBased
import Testing

func parameter(_ type: DataType, _ order: WordOrder = .abcd, scale: Double = 1, offset: Double = 0,
               table: RegisterTable = .holdingRegister, address: Int = 0) -> Parameter {
    Parameter(id: "p", name: "p", unit: "1", table: table, address: address, dataType: type, wordOrder: order,
              scale: scale, offset: offset)
}

func decode(_ registers: [UInt16], as type: DataType, _ order: WordOrder = .abcd, scale: Double = 1,
            offset: Double = 0) -> Value? {
    RegisterCodec.decode(parameter(type, order, scale: scale, offset: offset), registers: registers, baseAddress: 0)
}

@Suite("Register decoding")
struct RegisterCodecTests {
    @Test("37.0 as float32 decodes in all four word orders", arguments: [
        (WordOrder.abcd, [UInt16(0x4214), 0x0000]),
        (.cdab, [0x0000, 0x4214]),
        (.badc, [0x1442, 0x0000]),
        (.dcba, [0x0000, 0x1442]),
    ])
    func float32WordOrders(order: WordOrder, registers: [UInt16]) {
        #expect(decode(registers, as: .float32, order) == .number(37.0))
        #expect(RegisterCodec.encode(.number(37.0), for: parameter(.float32, order)) == registers)
    }

    @Test("a fractional float32 keeps float32 precision")
    func float32Fraction() throws {
        // 37.6 is 0x42166666 in IEEE 754 single precision.
        let value = try #require(decode([0x4216, 0x6666], as: .float32)?.number)
        #expect(abs(value - 37.6) < 1e-5)
    }

    @Test("a float32 decodes to its shortest decimal form: 38.4, 37.01735, not double's digits of the float")
    func float32ShortestForm() {
        func registers(_ f: Float) -> [UInt16] { [UInt16(f.bitPattern >> 16), UInt16(f.bitPattern & 0xFFFF)] }
        #expect(decode(registers(38.4), as: .float32) == .number(38.4))
        #expect(decode(registers(37.01735), as: .float32) == .number(37.01735))
        #expect(decode(registers(-0.1), as: .float32) == .number(-0.1))
        #expect(decode(registers(1.5e-9), as: .float32) == .number(1.5e-9))
        #expect(decode(registers(3.4e38), as: .float32) == .number(3.4e38))
        // Scaled after narrowing: 384 tenths of a degree.
        #expect(decode(registers(384), as: .float32, scale: 0.1) == .number(38.4))
    }

    @Test("every float32 reads back exactly and prints as float32 prints it")
    func float32ShortestFormIsLossless() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200_000 {
            let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator))
            guard f.isFinite else { continue }
            let d = Double(shortestFloat32: f)
            #expect(Float(d) == f)
            #expect(Double("\(f)") == d, "\(f) is \(d)")
            if Float(d) != f || Double("\(f)") != d { return }
        }
    }

    @Test("negative int16 is two's complement, scaled")
    func negativeInt16() {
        #expect(decode([0xFB2E], as: .int16) == .number(-1234))
        #expect(decode([0xFB2E], as: .int16, scale: 0.01) == .number(-12.34))
        #expect(decode([0xFB2E], as: .uint16) == .number(64302))
    }

    @Test("uint32 above 2^31 stays positive in every word order")
    func uint32AboveSignBit() {
        // 3_000_000_000 = 0xB2D05E00
        #expect(decode([0xB2D0, 0x5E00], as: .uint32, .abcd) == .number(3_000_000_000))
        #expect(decode([0x5E00, 0xB2D0], as: .uint32, .cdab) == .number(3_000_000_000))
        #expect(decode([0xD0B2, 0x005E], as: .uint32, .badc) == .number(3_000_000_000))
        #expect(decode([0x005E, 0xD0B2], as: .uint32, .dcba) == .number(3_000_000_000))
        #expect(decode([0xB2D0, 0x5E00], as: .int32, .abcd) == .number(-1_294_967_296))
    }

    @Test("64-bit integers and doubles decode over four registers")
    func sixtyFourBit() {
        // 0x0123456789ABCDEF
        let abcd: [UInt16] = [0x0123, 0x4567, 0x89AB, 0xCDEF]
        #expect(decode(abcd, as: .uint64) == .number(Double(UInt64(0x0123_4567_89AB_CDEF))))
        #expect(decode(abcd.reversed(), as: .uint64, .cdab) == .number(Double(UInt64(0x0123_4567_89AB_CDEF))))
        #expect(decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], as: .int64) == .number(-2))
        // 37.0 as a double is 0x4042800000000000
        #expect(decode([0x4042, 0x8000, 0, 0], as: .float64) == .number(37.0))
        #expect(decode([0, 0, 0x8000, 0x4042], as: .float64, .cdab) == .number(37.0))
        #expect(decode([0, 0, 0x0080, 0x4240], as: .float64, .dcba) == .number(37.0))
    }

    @Test("scale and offset give engineering units")
    func scaleAndOffset() {
        // A transmitter reporting tenths of a degree with a -50 °C offset.
        #expect(decode([870], as: .uint16, scale: 0.1, offset: -50) == .number(870 * 0.1 - 50))
    }

    @Test("single bits of a register and bit-table bools")
    func bits() {
        #expect(decode([0b1000_0000_0001_0010], as: .bit(1)) == .flag(true))
        #expect(decode([0b1000_0000_0001_0010], as: .bit(0)) == .flag(false))
        #expect(decode([0b1000_0000_0001_0010], as: .bit(15)) == .flag(true))
        let bits: [UInt8] = [0, 1, 0]
        let door = parameter(.bool, table: .discreteInput, address: 11)
        #expect(bits.withUnsafeBufferPointer { RegisterCodec.decode(door, bits: $0, baseAddress: 10) } == .flag(true))
    }

    @Test("ASCII strings read high byte first and drop trailing padding")
    func strings() {
        #expect(decode([0x5342, 0x2D31, 0x3200, 0x0000], as: .string(registers: 4)) == .text("SB-12"))
        #expect(decode([0x4142, 0x0743], as: .string(registers: 2)) == .text("AB?C"), "control bytes are not passed on")
    }

    @Test("a NaN or infinite float from the device is no value")
    func invalidFloats() {
        #expect(decode([0x7FC0, 0x0000], as: .float32) == nil)
        #expect(decode([0x7F80, 0x0000], as: .float32) == nil)
    }

    @Test("a parameter decodes at its offset inside a larger read")
    func offsetInsideRead() {
        let registers: [UInt16] = [9, 9, 0x4214, 0x0000, 9]
        let p = parameter(.float32, address: 102)
        #expect(RegisterCodec.decode(p, registers: registers, baseAddress: 100) == .number(37.0))
    }

    @Test("encode then decode returns the value, for every integer type and word order")
    func roundTripIntegers() async {
        await propertyCheck(
            count: 400, input: Gen.int64(in: -2_000_000_000...4_000_000_000), Gen.int(in: 0...3).map { WordOrder.allCases[$0] }
        ) { raw, order in
            for type in [DataType.int32, .uint32, .int64, .uint64] {
                let fits: Bool = switch type {
                case .int32: raw >= Int64(Int32.min) && raw <= Int64(Int32.max)
                case .uint32: raw >= 0 && raw <= Int64(UInt32.max)
                case .uint64: raw >= 0
                default: true
                }
                guard fits else { continue }
                let p = parameter(type, order)
                let registers = RegisterCodec.encode(.number(Double(raw)), for: p)
                #expect(registers.count == type.registerCount)
                #expect(RegisterCodec.decode(p, registers: registers, baseAddress: 0) == .number(Double(raw)))
            }
        }
    }

    @Test("encode then decode returns a float within its precision")
    func roundTripFloats() async {
        await propertyCheck(
            count: 400, input: Gen.double(in: -1e6...1e6), Gen.int(in: 0...3).map { WordOrder.allCases[$0] }
        ) { value, order in
            let p64 = parameter(.float64, order)
            #expect(RegisterCodec.decode(p64, registers: RegisterCodec.encode(.number(value), for: p64), baseAddress: 0)
                == .number(value))
            let p32 = parameter(.float32, order)
            let back = RegisterCodec.decode(p32, registers: RegisterCodec.encode(.number(value), for: p32), baseAddress: 0)
            #expect(back == .number(Double(shortestFloat32: Float(value))))
            #expect(back?.number.map { Float($0) } == Float(value), "the float32 itself is kept")
        }
    }
}

@Suite("Scaled whole numbers")
struct ScaledWholeNumberTests {
    @Test("a whole number times a decimal scale reads with the scale's decimals, not binary noise")
    func decimals() {
        let co2 = Parameter(id: "co2", name: "CO2", unit: "%", table: .holdingRegister, address: 0, dataType: .uint16, scale: 0.1)
        #expect(co2.decimalPlaces == 1)
        #expect(RegisterCodec.decode(co2, registers: [51], baseAddress: 0) == .number(5.1))
        let ph = Parameter(id: "ph", name: "pH", unit: "[pH]", table: .holdingRegister, address: 0, dataType: .int16, scale: 0.001, offset: 0)
        #expect(RegisterCodec.decode(ph, registers: [7_155], baseAddress: 0) == .number(7.155))
        let shifted = Parameter(id: "t", name: "T", unit: "Cel", table: .holdingRegister, address: 0, dataType: .int16, scale: 0.01, offset: -40.5)
        #expect(RegisterCodec.decode(shifted, registers: [7_753], baseAddress: 0) == .number(37.03))
        let third = Parameter(id: "x", name: "X", unit: "1", table: .holdingRegister, address: 0, dataType: .uint16, scale: 1.0 / 3)
        #expect(third.decimalPlaces == nil, "no short decimal form: left as computed")
    }
}
