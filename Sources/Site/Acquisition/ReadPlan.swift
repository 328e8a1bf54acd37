import POCareCore

/// One Modbus read request and the parameters whose values it carries.
public struct ReadRequest: Sendable, Hashable {
    public var range: AddressRange
    /// Indexes into the profile's parameter list.
    public var parameterIndexes: [Int]

    public init(range: AddressRange, parameterIndexes: [Int]) {
        self.range = range
        self.parameterIndexes = parameterIndexes
    }
}

/// The requests that read every parameter of a profile once.
public struct ReadPlan: Sendable, Hashable {
    public var requests: [ReadRequest]
    public init(requests: [ReadRequest]) { self.requests = requests }
}

/// Turns a profile into the fewest read requests the device's limits allow.
///
/// Per table, parameters are taken in address order and a request is extended as long as
/// the result stays within the size limit, the hole it reads through is no larger than
/// `maxGap`, and the hole touches no unreadable address. Because every constraint only
/// gets harder as a request grows, this greedy packing is minimal for that order.
public enum ReadPlanner {
    public static func plan(_ profile: DeviceProfile) -> ReadPlan {
        plan(parameters: profile.parameters, unreadable: profile.unreadable, limits: profile.modbus)
    }

    public static func plan(parameters: [Parameter], unreadable: [AddressRange], limits: ModbusDefaults) -> ReadPlan {
        var requests: [ReadRequest] = []
        for table in RegisterTable.allCases {
            let limit = min(
                table.isBitTable ? limits.maxBitsPerRequest : limits.maxRegistersPerRequest, table.protocolReadLimit)
            let items = parameters.indices
                .filter { parameters[$0].table == table }
                .sorted {
                    let a = parameters[$0].addressRange, b = parameters[$1].addressRange
                    return (a.start, a.end, $0) < (b.start, b.end, $1)
                }
            let holes = unreadable.filter { $0.table == table }
            var current: (start: Int, end: Int, members: [Int])?
            for index in items {
                let range = parameters[index].addressRange
                if var open = current {
                    let newEnd = max(open.end, range.end)
                    let gap = range.start - open.end
                    let bridgesHole = gap > 0 && holes.contains {
                        $0.overlaps(AddressRange(table: table, start: open.end, count: gap))
                    }
                    if newEnd - open.start <= limit && gap <= limits.maxGap && !bridgesHole {
                        open.end = newEnd
                        open.members.append(index)
                        current = open
                        continue
                    }
                    requests.append(ReadRequest(
                        range: AddressRange(table: table, start: open.start, count: open.end - open.start),
                        parameterIndexes: open.members))
                }
                current = (range.start, range.end, [index])
            }
            if let open = current {
                requests.append(ReadRequest(
                    range: AddressRange(table: table, start: open.start, count: open.end - open.start),
                    parameterIndexes: open.members))
            }
        }
        return ReadPlan(requests: requests)
    }
}
