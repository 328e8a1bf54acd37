/// One measurable or settable quantity of a device, and where it sits in the device's Modbus map.
public struct Parameter: Sendable, Hashable {
    public var id: String
    public var name: String
    /// Engineering unit after scaling (UCUM-style spelling such as `Cel`, `%`, `mL`); empty for states.
    public var unit: String
    public var table: RegisterTable
    /// 0-based protocol address, as on the wire (not the 1-based "40001" notation).
    public var address: Int
    public var dataType: DataType
    public var wordOrder: WordOrder
    /// Engineering value = raw * scale + offset.
    public var scale: Double { didSet { decimalPlaces = Self.decimalPlaces(scale, offset) } }
    public var offset: Double { didSet { decimalPlaces = Self.decimalPlaces(scale, offset) } }
    /// Decimal places a scaled whole number has (`0.1` gives 1): the decoder rounds to them, so
    /// 51 × 0.1 reads 5.1, not 5.1000000000000005. Nil when scale or offset has no short decimal form.
    public private(set) var decimalPlaces: Int?
    /// Code-to-label map for status and phase registers.
    public var enumeration: [Int: String]?
    public var writable: Bool
    /// This parameter's own stale time, overriding the profile's `monitoring.stale_after`.
    public var staleAfter: Duration?

    public init(
        id: String, name: String, unit: String, table: RegisterTable, address: Int,
        dataType: DataType, wordOrder: WordOrder = .abcd, scale: Double = 1, offset: Double = 0,
        enumeration: [Int: String]? = nil, writable: Bool = false, staleAfter: Duration? = nil
    ) {
        self.id = id
        self.name = name
        self.unit = unit
        self.table = table
        self.address = address
        self.dataType = dataType
        self.wordOrder = wordOrder
        self.scale = scale
        self.offset = offset
        self.enumeration = enumeration
        self.writable = writable
        self.staleAfter = staleAfter
        self.decimalPlaces = Self.decimalPlaces(scale, offset)
    }

    /// A measured quantity whose value moves with the process: numeric, not a code (no
    /// enumeration), not a set point or command (not writable). Every such parameter has a
    /// stale time: a sensor stuck at one value is a loss of monitoring.
    public var isMeasurement: Bool { dataType.isNumeric && enumeration == nil && !writable }

    static func decimalPlaces(_ scale: Double, _ offset: Double) -> Int? {
        func places(_ x: Double) -> Int? {
            guard x.isFinite else { return nil }
            var power = 1.0
            for d in 0...9 {
                let shifted = x * power
                if abs(shifted - shifted.rounded()) <= 1e-6 { return d }
                power *= 10
            }
            return nil
        }
        guard let a = places(scale), let b = places(offset) else { return nil }
        return max(a, b)
    }

    /// The registers (or bits) this parameter occupies.
    public var addressRange: AddressRange {
        AddressRange(table: table, start: address, count: dataType.registerCount)
    }
}

/// How to talk to a device model over Modbus/TCP, unless a site's config says otherwise.
public struct ModbusDefaults: Sendable, Hashable {
    public var unitId: Int
    public var wordOrder: WordOrder
    /// Many devices accept fewer than the protocol's 125 registers per read.
    public var maxRegistersPerRequest: Int
    public var maxBitsPerRequest: Int
    /// Largest run of unused addresses the planner will read through to save a request.
    public var maxGap: Int
    public var responseTimeout: Duration
    /// Some controllers drop requests that arrive back to back.
    public var pauseBetweenRequests: Duration

    public init(
        unitId: Int = 1, wordOrder: WordOrder = .abcd, maxRegistersPerRequest: Int = 125,
        maxBitsPerRequest: Int = 2000, maxGap: Int = 8, responseTimeout: Duration = .milliseconds(500),
        pauseBetweenRequests: Duration = .zero
    ) {
        self.unitId = unitId
        self.wordOrder = wordOrder
        self.maxRegistersPerRequest = maxRegistersPerRequest
        self.maxBitsPerRequest = maxBitsPerRequest
        self.maxGap = maxGap
        self.responseTimeout = responseTimeout
        self.pauseBetweenRequests = pauseBetweenRequests
    }
}

/// How the site watches a device whatever it runs: the stale time of its measurements and when
/// its communication counts as lost, with the priority of each alarm. A batch's spec may set
/// tighter stale times and its own communication rule while the batch runs.
public struct DeviceMonitoring: Sendable, Hashable {
    /// The default stale time of every measurement (`Parameter.isMeasurement`).
    public var staleAfter: Duration
    public var stalePriority: AlarmPriority
    /// Polls in a row without a single good value (missed polls included) before communication counts as lost.
    public var communicationLossPolls: Int
    public var communicationPriority: AlarmPriority

    public static let defaultStaleAfter = Duration.seconds(3600)

    public init(
        staleAfter: Duration = DeviceMonitoring.defaultStaleAfter, stalePriority: AlarmPriority = .medium,
        communicationLossPolls: Int = 3, communicationPriority: AlarmPriority = .high
    ) {
        self.staleAfter = staleAfter
        self.stalePriority = stalePriority
        self.communicationLossPolls = communicationLossPolls
        self.communicationPriority = communicationPriority
    }
}

/// Everything POCare Edge knows about one equipment model: identity, Modbus settings, parameters.
public struct DeviceProfile: Sendable, Hashable {
    public var id: String
    public var vendor: String
    public var model: String
    /// Firmware versions this map was written for, as the vendor states them (e.g. ">=2.1 <3.0").
    public var firmware: String
    public var modbus: ModbusDefaults
    /// Address ranges the device answers with an exception; never read, never bridged over.
    public var unreadable: [AddressRange]
    public var parameters: [Parameter] { didSet { positions = Self.positions(of: parameters) } }
    /// Stale times and communication loss, with or without a batch.
    public var monitoring = DeviceMonitoring()
    /// Where each parameter id stands in `parameters`, so a look-up by id is constant time
    /// (a spec over a 70,000-parameter profile is checked in linear time, not quadratic).
    private var positions: [String: Int]

    public init(
        id: String, vendor: String, model: String, firmware: String, modbus: ModbusDefaults,
        unreadable: [AddressRange] = [], parameters: [Parameter]
    ) {
        self.id = id
        self.vendor = vendor
        self.model = model
        self.firmware = firmware
        self.modbus = modbus
        self.unreadable = unreadable
        self.parameters = parameters
        self.positions = Self.positions(of: parameters)
    }

    public func parameter(_ id: String) -> Parameter? {
        positions[id].map { parameters[$0] }
    }

    /// The stale time a parameter has without a batch: its own, the profile's for a
    /// measurement, none for anything else.
    public func staleAfter(_ parameter: Parameter) -> Duration? {
        staleTimes(of: [parameter])[0]
    }

    /// The stale times of these parameters, each as `staleAfter` gives it, in one pass over
    /// the profile: a 16-bit word whose bits are parameters of their own is a packed status
    /// word, not a measurement.
    public func staleTimes(of chosen: [Parameter]? = nil) -> [Duration?] {
        var packedWords: Set<AddressRange> = []
        for p in parameters { if case .bit = p.dataType { packedWords.insert(AddressRange(table: p.table, start: p.address, count: 1)) } }
        return (chosen ?? parameters).map { p in
            if let own = p.staleAfter { return own }
            guard p.isMeasurement else { return nil }
            if p.dataType.registerCount == 1 && packedWords.contains(AddressRange(table: p.table, start: p.address, count: 1)) { return nil }
            return monitoring.staleAfter
        }
    }

    /// The first parameter with each id wins, as a linear search would find it.
    private static func positions(of parameters: [Parameter]) -> [String: Int] {
        var positions: [String: Int] = [:]
        positions.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() where positions[parameter.id] == nil { positions[parameter.id] = index }
        return positions
    }
}
