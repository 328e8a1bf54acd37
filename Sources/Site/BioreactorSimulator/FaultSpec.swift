import POCareCore

/// Reads faults written as `key=value` lists, the same on the command line and in a
/// scenario file (one fault per line, `#` starts a comment):
///
///     device=rocker-1 kind=excursion parameter=temperature value=39.5 from=30s to=90s
///     device=str-1 kind=slow delay=2s from=10s to=40s
///     device=* kind=drop from=60s to=75s
///     device=cpu-1 kind=exception code=4 parameter=chamber_pressure from=0s to=20s
///     device=rocker-1 kind=spike parameter=ph value=6.4 at=45s
///     device=str-1 kind=offset parameter=temperature value=0.5
///     device=rocker-1 kind=flag parameter=bag_present value=false from=80s to=95s
///     device=rocker-1 kind=status parameter=status value=fault from=100s for=20s
///
/// Pairs may be separated by spaces or commas.
public enum FaultSpec {
    public struct ParseError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    static let keys = ["device", "kind", "parameter", "value", "from", "to", "at", "for", "delay", "code"]

    public static func parse(_ text: String, parseDuration: (String) -> Duration?) throws(ParseError) -> Fault {
        var fields: [String: String] = [:]
        for pair in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ParseError(message: "'\(pair)' is not key=value")
            }
            guard keys.contains(parts[0]) else {
                throw ParseError(message: "unknown key '\(parts[0])'; expected one of \(keys.joined(separator: ", "))")
            }
            fields[parts[0]] = parts[1]
        }
        func duration(_ key: String) throws(ParseError) -> Duration? {
            guard let text = fields[key] else { return nil }
            guard let d = parseDuration(text) else {
                throw ParseError(message: "\(key): '\(text)' is not a duration such as 500ms, 30s or 2m")
            }
            return d
        }
        func required(_ key: String) throws(ParseError) -> String {
            guard let v = fields[key] else { throw ParseError(message: "missing '\(key)='") }
            return v
        }
        func number(_ key: String) throws(ParseError) -> Double {
            let text = try required(key)
            guard let v = Double(text), v.isFinite else { throw ParseError(message: "\(key): '\(text)' is not a number") }
            return v
        }

        let device = fields["device"] ?? "*"
        let kindName = try required("kind")
        let kind: Fault.Kind
        switch kindName {
        case "excursion": kind = .excursion(parameter: try required("parameter"), value: try number("value"))
        case "spike": kind = .spike(parameter: try required("parameter"), value: try number("value"))
        case "offset": kind = .offset(parameter: try required("parameter"), delta: try number("value"))
        case "stuck": kind = .stuck(parameter: try required("parameter"))
        case "flag":
            let text = try required("value")
            guard let value = ["true": true, "on": true, "1": true, "false": false, "off": false, "0": false][text.lowercased()] else {
                throw ParseError(message: "value: a flag is true or false, not '\(text)'")
            }
            kind = .flag(parameter: try required("parameter"), value: value)
        case "status": kind = .status(parameter: try required("parameter"), label: try required("value"))
        case "drop": kind = .connectionDrop
        case "slow":
            guard let delay = try duration("delay") else { throw ParseError(message: "missing 'delay='") }
            kind = .slowResponse(delay: delay)
        case "exception":
            let value = try number("code")
            guard value.rounded() == value, (1...11).contains(value) else {
                throw ParseError(message: "code: Modbus exception codes are 1...11")
            }
            kind = .exception(code: Int(value), parameter: fields["parameter"])
        default:
            throw ParseError(message: "unknown kind '\(kindName)'; expected excursion, spike, offset, stuck, flag, status, drop, slow or exception")
        }
        let from: Duration
        let to: Duration
        if let at = try duration("at") {
            from = at
            to = at + (try duration("for") ?? .seconds(1))
        } else {
            from = try duration("from") ?? .zero
            if let end = try duration("to") {
                to = end
            } else if let length = try duration("for") {
                to = from + length
            } else {
                to = .seconds(Int64(Int32.max))
            }
        }
        guard to > from else { throw ParseError(message: "the window ends before it starts") }
        return Fault(device: device, kind: kind, from: from, to: to)
    }

    /// Parses a scenario file; errors name the line.
    public static func parseScenario(_ text: String, file: String, parseDuration: (String) -> Duration?) throws(ParseError)
        -> [Fault]
    {
        var faults: [Fault] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard !line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) else { continue }
            do {
                faults.append(try parse(String(line), parseDuration: parseDuration))
            } catch {
                throw ParseError(message: "\(file):\(number + 1): \(error.message)")
            }
        }
        return faults
    }
}
