import Foundation

/// Parses the JSON payload lines `pocarectl subscribe --json` printed.
func payloads(_ lines: [String]) -> [[String: Any]] {
    lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// Sequence numbers received per stream, from telemetry (`seq_first...seq_last`) and single messages (`seq`).
func receivedNumbers(_ messages: [[String: Any]]) -> [String: [Int64]] {
    var result: [String: [Int64]] = [:]
    for m in messages {
        guard let stream = m["stream"] as? String else { continue }
        if let samples = m["samples"] as? [[String: Any]] {
            result[stream, default: []] += samples.compactMap { ($0["seq"] as? NSNumber)?.int64Value }
        } else if let seq = (m["seq"] as? NSNumber)?.int64Value {
            result[stream, default: []].append(seq)
        }
    }
    return result
}
