import ComparabilityMethod
import Foundation
import POCareCore

/// What a comparison is asked for: one spec, one equipment model, one phase, against one
/// reference site, with the method's settings and each parameter's.
public struct ComparisonRequest: Sendable {
    public enum Kind: String, Sendable, Codable, Equatable {
        /// An additional site's comparability batches against the reference (qualification).
        case qualification
        /// The yearly check: batches from split starting materials, compared as pairs.
        case yearly
    }

    public var spec: IPCSpec
    /// The equipment model (device profile id); nil: the one model the recorded batches name.
    public var profile: String?
    public var phase: String
    public var reference: String
    /// Test sites; empty: every site with batches.
    public var sites: [String] = []
    /// Only batches that started from this time on (seconds since 1970).
    public var since: Double?
    /// Nonconforming batches are listed and drawn "for information", never judged.
    public var includeNonconforming = false
    public var kind: Kind = .qualification
    public var settings = MethodSettings()
    /// Compare trajectories by time since phase start even where the spec names a progress variable.
    public var alignByTime = false
    /// Per parameter, overrides of the defaults (`ParameterDefaults`).
    public var overrides: [String: ParameterOverride] = [:]
    /// Device profiles by id, for each parameter's measurement resolution.
    public var profiles: [String: DeviceProfile] = [:]

    public init(spec: IPCSpec, phase: String, reference: String) {
        self.spec = spec
        self.phase = phase
        self.reference = reference
    }
}

/// How a parameter's setting may be changed for one comparison: `PARAMETER.KEY=VALUE` with keys
/// `tiers` (e.g. 2,3), `k`, `margin`, `floor` (`resolution`, `band:0.05` or a number),
/// `envelope-k`, `envelope-share`.
public struct ParameterOverride: Sendable, Equatable {
    public var tiers: [Int]?
    public var k: Double?
    public var marginFactor: Double?
    public var floor: FloorChoice?
    public var envelopeK: Double?
    public var envelopeShare: Double?
    public init() {}

    public enum FloorChoice: Sendable, Equatable {
        case resolution
        case bandFraction(Double)
        case value(Double)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `--setting` values into overrides per parameter; every error names the text.
    public static func parse(_ texts: [String]) throws(Invalid) -> [String: ParameterOverride] {
        var result: [String: ParameterOverride] = [:]
        for text in texts {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            let path = parts.first?.split(separator: ".", maxSplits: 1).map(String.init) ?? []
            guard parts.count == 2, path.count == 2, !path[0].isEmpty else {
                throw Invalid(description: "setting '\(text)': write PARAMETER.KEY=VALUE (keys: tiers, k, margin, floor, envelope-k, envelope-share)")
            }
            var o = result[path[0]] ?? ParameterOverride()
            let value = parts[1]
            func number(_ low: Double, _ high: Double) throws(Invalid) -> Double {
                guard let x = Double(value), x.isFinite, x >= low, x <= high else {
                    throw Invalid(description: "setting '\(text)': \(path[1]) is a number from \(low) to \(high)")
                }
                return x
            }
            switch path[1] {
            case "tiers":
                let tiers = value.split(separator: ",").compactMap { Int($0) }
                guard !tiers.isEmpty, tiers.allSatisfy({ (1...3).contains($0) }), tiers.count == value.split(separator: ",").count else {
                    throw Invalid(description: "setting '\(text)': tiers is a list of 1, 2 and 3, such as 2,3")
                }
                o.tiers = Array(Set(tiers)).sorted()
            case "k": o.k = try number(0.5, 10)
            case "margin": o.marginFactor = try number(0.1, 10)
            case "envelope-k": o.envelopeK = try number(0.5, 10)
            case "envelope-share": o.envelopeShare = try number(0, 1)
            case "floor":
                if value == "resolution" {
                    o.floor = .resolution
                } else if value.hasPrefix("band:") {
                    guard let f = Double(value.dropFirst(5)), f.isFinite, f > 0, f <= 1 else {
                        throw Invalid(description: "setting '\(text)': band:F takes a fraction above 0 and at most 1")
                    }
                    o.floor = .bandFraction(f)
                } else {
                    o.floor = .value(try number(0, 1e12))
                }
            default:
                throw Invalid(description: "setting '\(text)': unknown key '\(path[1])' (tiers, k, margin, floor, envelope-k, envelope-share)")
            }
            result[path[0]] = o
        }
        return result
    }
}

/// The defaults per parameter, stated on the report: all three tiers, k = 3, margin 1.5 SD,
/// envelope ± 3 SD with 90 % inside; the SD floor is the larger of the parameter's register
/// resolution in the profile (one count times the scale of an integer register) and 5 % of the spec's alert band (the action band where the
/// alert band is open on one side), so a difference smaller than a twentieth of the band the
/// spec allows is never a finding.
public enum ParameterDefaults {
    public static let bandFraction = 0.05

    public static func settings(for limits: ParameterLimits, profile: DeviceProfile?, override: ParameterOverride?) -> ParameterSettings {
        // An integer register resolves one count times its scale; a floating-point one says nothing of the sensor.
        let resolution = profile?.parameters.first { $0.id == limits.parameterId }.flatMap { p -> Double? in
            switch p.dataType {
            case .int16, .uint16, .int32, .uint32, .int64, .uint64: abs(p.scale)
            default: nil
            }
        }
        let band: (low: Double, high: Double, name: String)? =
            if let l = limits.alertLow, let h = limits.alertHigh { (l, h, "alert band") }
            else if let l = limits.actionLow, let h = limits.actionHigh { (l, h, "action band") }
            else { nil }
        func fromResolution() -> StandardDeviationFloor {
            guard let profile else { return .init(value: 0, source: "no resolution known (profile not loaded)") }
            guard let resolution else { return .init(value: 0, source: "no register resolution (a floating-point value in profile \(profile.id))") }
            return .init(value: resolution, source: "register resolution \(num(resolution)) \(limits.unit) in profile \(profile.id)")
        }
        func fromBand(_ fraction: Double) -> StandardDeviationFloor? {
            guard let band else { return nil }
            let value = fraction * (band.high - band.low)
            return .init(value: value, source: "\(num(fraction * 100))% of the \(band.name) \(num(band.low))...\(num(band.high)) \(limits.unit)")
        }
        let floor: StandardDeviationFloor
        switch override?.floor {
        case .resolution?: floor = fromResolution()
        case .bandFraction(let f)?: floor = fromBand(f) ?? fromResolution()
        case .value(let v)?: floor = .init(value: v, source: "set for this comparison: \(num(v)) \(limits.unit)")
        case nil:
            let r = fromResolution()
            if let b = fromBand(bandFraction), b.value > r.value { floor = b } else { floor = r }
        }
        var s = ParameterSettings(floor: floor)
        if let o = override {
            s.tiers = o.tiers ?? s.tiers
            s.k = o.k ?? s.k
            s.marginFactor = o.marginFactor ?? s.marginFactor
            s.envelopeK = o.envelopeK ?? s.envelopeK
            s.envelopeRequiredShare = o.envelopeShare ?? s.envelopeRequiredShare
        }
        return s
    }

    static func num(_ x: Double) -> String { String(format: "%g", x) }
}
