import Foundation
import POCareCore

extension SpecCanonicalForm {
    /// Reads a spec back from its canonical form (`pocare-ipc-spec/1`), as a site publishes it
    /// under its fingerprint: what a consumer without the profiles needs to apply the limits the
    /// site ran. Phases come in name order (the form does not keep the file's order). Nil for
    /// text that is not the form.
    public static func parse(_ text: String, fingerprint: String) -> IPCSpec? {
        // Why the text is not JSON does not matter: it is not the form, and the answer is nil.
        guard let root = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              root["form"] as? String == "pocare-ipc-spec/1",
              let identity = root["identity"] as? [String: Any], let phases = root["phases"] as? [String: Any],
              let rules = root["rules"] as? [String: Any]
        else { return nil }
        func string(_ map: [String: Any], _ key: String) -> String { map[key] as? String ?? "" }
        let spec = SpecIdentity(
            product: string(identity, "product"), process: string(identity, "process"), documentId: string(identity, "document"),
            version: string(identity, "version"), approvedBy: string(identity, "approved_by"),
            approvalDate: string(identity, "approval_date"), changeControl: string(identity, "change_control"),
            profiles: identity["profiles"] as? [String] ?? [])
        var phaseLimits: [PhaseLimits] = []
        for name in phases.keys.sorted() {
            guard let parameters = phases[name] as? [String: Any] else { return nil }
            var limits: [ParameterLimits] = []
            for id in parameters.keys.sorted() {
                guard let fields = parameters[id] as? [String: Any], let l = parameterLimits(id, fields) else { return nil }
                limits.append(l)
            }
            phaseLimits.append(PhaseLimits(phase: name, limits: limits))
        }
        var running: RunningSignal?
        if let r = rules["running"] as? [String: Any], let parameter = r["parameter"] as? String {
            running = RunningSignal(parameterId: parameter, labels: r["labels"] as? [String] ?? [])
        }
        var result = IPCSpec(
            identity: spec, phases: phaseLimits, communicationLossPolls: (rules["communication_loss_polls"] as? NSNumber)?.intValue ?? 3,
            running: running, fingerprint: fingerprint)
        if let comparability = root["comparability"] as? [String: Any] {
            for phase in comparability.keys.sorted() {
                guard let a = comparability[phase] as? [String: Any], let parameter = a["align_by"] as? String,
                      let bucket = (a["bucket"] as? NSNumber)?.doubleValue else { return nil }
                result.alignments.append(SpecAlignment(phase: phase, parameterId: parameter, bucket: bucket,
                                                       from: (a["from"] as? NSNumber)?.doubleValue ?? 0))
            }
        }
        result.canonicalForm = text
        return result
    }

    private static func parameterLimits(_ id: String, _ f: [String: Any]) -> ParameterLimits? {
        func number(_ key: String) -> Double? { (f[key] as? NSNumber)?.doubleValue }
        func duration(_ key: String) -> Duration? { (f[key] as? NSNumber).map { .nanoseconds($0.int64Value) } }
        var l = ParameterLimits(
            parameterId: id, unit: f["unit"] as? String ?? "", target: number("target"), alertLow: number("alert_low"),
            alertHigh: number("alert_high"), actionLow: number("action_low"), actionHigh: number("action_high"),
            maxRatePerMinute: number("max_rate_per_min"), onDelay: duration("on_delay_ns") ?? .zero,
            offDelay: duration("off_delay_ns") ?? .zero, deadband: number("deadband") ?? 0,
            priority: AlarmPriority(rawValue: f["priority"] as? String ?? "medium") ?? .medium, staleAfter: duration("stale_after_ns"))
        if let flag = f["alarm_when"] as? Bool {
            l.discrete = .flag(alarmWhen: flag)
        } else if let labels = f["alarm_labels"] as? [String] {
            l.discrete = .labels(labels)
        }
        l.discreteLevel = (f["level"] as? String).flatMap(ParameterLimits.DiscreteLevel.init(rawValue:)) ?? .alert
        l.latch = f["latch"] as? Bool ?? false
        return l
    }
}
