import Foundation
import Yams

/// Enough of JSON Schema to check messages against the AsyncAPI document: type (with
/// "integer" and "null"), const, enum, required, properties, additionalProperties, items,
/// minItems, minimum, pattern, and local `$ref`s.
public struct JSONSchemaValidator {
    public let root: [String: Any]

    public init(asyncAPIFile path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let document = try Yams.load(yaml: text) as? [String: Any] else {
            throw TestFailure("\(path) is not a YAML mapping")
        }
        root = document
    }

    public func schema(named name: String) -> Any? {
        ((root["components"] as? [String: Any])?["schemas"] as? [String: Any])?[name]
    }

    public func resolve(_ schema: Any) -> [String: Any] {
        guard let object = schema as? [String: Any] else { return [:] }
        guard let ref = object["$ref"] as? String, ref.hasPrefix("#/") else { return object }
        var node: Any = root
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return resolve(node)
    }

    /// Every violation, each with its JSON path.
    public func validate(_ value: Any, against schema: Any, at path: String = "$") -> [String] {
        let s = resolve(schema)
        var problems: [String] = []
        if let types = (s["type"] as? [String]) ?? (s["type"] as? String).map({ [$0] }), !types.contains(where: { matches(value, $0) }) {
            return ["\(path): expected \(types.joined(separator: " or ")), got \(describe(value))"]
        }
        if let constant = s["const"], !equal(value, constant) { problems.append("\(path): expected \(constant)") }
        if let options = s["enum"] as? [Any], !options.contains(where: { equal(value, $0) }) {
            problems.append("\(path): \(describe(value)) is not one of \(options)")
        }
        if let pattern = s["pattern"] as? String, let text = value as? String,
            text.range(of: pattern, options: .regularExpression) == nil
        {
            problems.append("\(path): '\(text)' does not match \(pattern)")
        }
        if let minimum = (s["minimum"] as? NSNumber)?.doubleValue, let number = value as? NSNumber, !(value is Bool),
            number.doubleValue < minimum
        {
            problems.append("\(path): \(number) is below \(minimum)")
        }
        if let object = value as? [String: Any] {
            for key in (s["required"] as? [String]) ?? [] where object[key] == nil { problems.append("\(path): missing '\(key)'") }
            let properties = (s["properties"] as? [String: Any]) ?? [:]
            for (key, item) in object {
                if let property = properties[key] {
                    problems += validate(item, against: property, at: "\(path).\(key)")
                } else if let additional = s["additionalProperties"] {
                    if let allowed = additional as? Bool {
                        if !allowed { problems.append("\(path): unexpected key '\(key)'") }
                    } else {
                        problems += validate(item, against: additional, at: "\(path).\(key)")
                    }
                }
            }
        }
        if let array = value as? [Any] {
            if let minItems = s["minItems"] as? Int, array.count < minItems { problems.append("\(path): fewer than \(minItems) items") }
            if let items = s["items"] {
                for (index, item) in array.enumerated() { problems += validate(item, against: items, at: "\(path)[\(index)]") }
            }
        }
        return problems
    }

    private func matches(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "boolean": return isBool(value)
        case "integer":
            guard let n = value as? NSNumber, !isBool(value) else { return false }
            return n.doubleValue == n.doubleValue.rounded()
        case "number": return value is NSNumber && !isBool(value)
        case "string": return value is String
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        default: return false
        }
    }

    private func isBool(_ value: Any) -> Bool {
        // JSONSerialization gives true and false a number whose type code is "c".
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    private func equal(_ a: Any, _ b: Any) -> Bool { "\(a)" == "\(b)" }
    private func describe(_ value: Any) -> String { value is NSNull ? "null" : "\(type(of: value)) \(value)" }
}
