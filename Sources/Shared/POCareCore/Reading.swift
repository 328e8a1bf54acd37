import Foundation

/// How far a value can be trusted, in the spirit of OPC UA status codes.
public enum Quality: String, Sendable, Hashable, Codable {
    case good
    /// No answer, a timeout or a broken connection: the device may be fine, the link is not.
    case badCommunication = "bad_communication"
    /// The device answered with a Modbus exception: it refused or failed to give the value.
    case badDevice = "bad_device"
}

/// A decoded value in engineering units.
extension Double {
    /// The double nearest to the shortest decimal that reads back as `value` in float32:
    /// 38.4 for the float32 nearest 38.4 (not 38.400001525878906, its exact value). Lossless,
    /// since `Float(result) == value`, and every reader (store, CLI, report, wire) then shows
    /// the digits the device meant without knowing the value came from a float32 register.
    public init(shortestFloat32 value: Float) {
        let exact = Double(value)
        // Fast path: the fewest fractional digits that read back as the same float32. Dividing
        // a whole number by a power of ten is correctly rounded, so the candidate is the double
        // nearest that decimal.
        if exact.isFinite, abs(exact) < 1e7, abs(exact) >= 1e-4 || exact == 0 {
            var scale = 1.0
            for _ in 0...9 {
                let candidate = (exact * scale).rounded(.toNearestOrEven) / scale
                if Float(candidate) == value {
                    self = candidate
                    return
                }
                scale *= 10
            }
        }
        self = Double("\(value)") ?? exact
    }
}

public enum Value: Sendable, Hashable, CustomStringConvertible {
    case number(Double)
    case flag(Bool)
    case text(String)

    public var number: Double? {
        switch self {
        case .number(let v): v
        case .flag(let b): b ? 1 : 0
        case .text: nil
        }
    }

    public var description: String {
        switch self {
        case .number(let v): formatNumber(v)
        case .flag(let b): b ? "true" : "false"
        case .text(let s): s
        }
    }
}

/// Prints whole numbers without a fraction and others with up to four significant decimals.
public func formatNumber(_ v: Double) -> String {
    if v.rounded() == v, abs(v) < 1e15 { return String(Int64(v)) }
    var s = String(format: "%.4f", v)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

/// One parameter's value at one poll, with its quality. A bad reading carries no value.
public struct Reading: Sendable, Hashable {
    public var parameterId: String
    public var value: Value?
    public var quality: Quality
    /// Label from the profile's enumeration, when the parameter has one.
    public var label: String?

    public init(parameterId: String, value: Value?, quality: Quality, label: String? = nil) {
        self.parameterId = parameterId
        self.value = value
        self.quality = quality
        self.label = label
    }
}

/// Everything read from one device in one poll cycle.
public struct Sample: Sendable {
    public var deviceId: String
    /// UTC wall-clock time at which the cycle started (records use wall-clock time).
    public var time: Date
    /// CLOCK_MONOTONIC nanoseconds at the same moment (durations and delays use this).
    public var monotonicTime: Int64
    /// Cycle number on the device's schedule, counting from 0 at poller start.
    public var cycle: UInt64
    /// Monotonic lateness of the cycle's start against its deadline.
    public var startLateness: Duration
    /// Cycles skipped before this one because the device or the machine was too slow.
    public var missedCycles: UInt64
    public var readings: [Reading]

    public init(
        deviceId: String, time: Date, monotonicTime: Int64, cycle: UInt64, startLateness: Duration,
        missedCycles: UInt64, readings: [Reading]
    ) {
        self.deviceId = deviceId
        self.time = time
        self.monotonicTime = monotonicTime
        self.cycle = cycle
        self.startLateness = startLateness
        self.missedCycles = missedCycles
        self.readings = readings
    }

    public func reading(_ parameterId: String) -> Reading? {
        readings.first { $0.parameterId == parameterId }
    }
}
