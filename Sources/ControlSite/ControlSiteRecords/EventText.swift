import Foundation

/// An event of a batch's record in words, as a reviewer reads it: who and why with every
/// operator action, values with their labels, the interval an event reports; never the stored
/// JSON. The batch page's timeline and `pocare-control batch` print the same text.
public enum EventText {
    public static func describe(kind: String, body: String) -> String {
        // A body that is not a JSON object reads as its kind alone: the text is for people; the
        // record itself is stored and verified as sent.
        let b = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        func text(_ key: String, in object: [String: Any] = b) -> String? {
            switch object[key] {
            case let s as String: return s.isEmpty ? nil : s
            case let n as NSNumber: return number(n)
            default: return nil
            }
        }
        let who = [text("user").map { "by \($0)" }, text("reason")].compactMap { $0 }.joined(separator: ": ")
        func with(_ parts: [String?]) -> String {
            (parts.compactMap { $0 }.filter { !$0.isEmpty } + (who.isEmpty ? [] : [who])).joined(separator: " · ")
        }
        let alarm = text("alarm")
        let value = text("label").map { label in text("value").map { "\(label) (\($0))" } ?? label } ?? text("value")
        switch kind {
        case "excursion":
            let x = b["excursion"] as? [String: Any] ?? [:]
            return with([text("alarm", in: x) ?? alarm,
                         "outside its range from \(text("start", in: x) ?? "?") to \(text("end", in: x) ?? "?") (\(text("duration_s", in: x) ?? "?") s)",
                         text("worst_value", in: x).map { "worst \($0)" + (text("worst_level", in: x).map { " (\($0)" + (text("side", in: x).map { ", \($0))" } ?? ")") } ?? "") },
                         text("area_outside", in: x).map { "area \($0)" }, (x["open_at_batch_end"] as? Bool) == true ? "still outside at the batch's end" : nil])
        case "batch_started", "phase_changed", "batch_ended":
            return with([text("previous_phase").map { "from \($0)" }, text("phase").map { "phase \($0)" }, text("spec").map { "spec \(String($0.dropFirst(7).prefix(12)))" }])
        case "batch_resumed":
            return with(["not watched from \(text("since") ?? "?") to \(text("until") ?? "?")"])
        case "communication_lost", "communication_restored":
            return with([alarm, kind == "communication_lost" ? "no answer from the device" : "the device answers again", text("state").map { "state \($0)" }])
        case "shelved", "unshelved":
            return with([alarm, text("until").map { "until \($0)" }])
        case "out_of_service", "in_service":
            return with([alarm ?? text("device"), text("since").map { "out of service since \($0)" }])
        case "clock_sync":
            let synchronised = (b["synchronised"] as? Bool).map { $0 ? "synchronised" : "NOT synchronised" } ?? "state unknown"
            return with([synchronised + (text("estimated_error_us").map { " (estimated error ±\($0) µs)" } ?? ""),
                         (b["previously_synchronised"] as? Bool).map { $0 ? "before: synchronised" : "before: not synchronised" }])
        case "clock_step":
            return with(["the wall clock stepped by \(text("step_s") ?? "?") s", text("before").map { "from \($0)" }, text("after").map { "to \($0)" }])
        case "batch_record":
            return with(["the site's batch record"])
        default:
            let limit = text("limit").map { "limit \($0)" }
            return with([alarm, text("level").map { "level \($0)" }, text("side"), value.map { "value \($0)" }, limit,
                         text("priority").map { "priority \($0)" }, text("state").map { "state \($0)" }])
        }
    }

    static func number(_ n: NSNumber) -> String {
        let d = n.doubleValue
        guard d.isFinite else { return "\(d)" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(format: "%.6g", d)
    }
}
