import Hashing
import POCareCore

/// The canonical text of a spec's content, which its fingerprint hashes.
///
/// Built from the parsed values, never from the file's text, so layout, comments, key order
/// and number spelling (`37`, `37.0`, `3.7e1`) cannot change it, while any change of a limit,
/// a delay, a rule or the identity does. Keys are sorted; phases are sorted by name (their
/// order in the file is layout, not content); numbers use Swift's shortest round-trip form;
/// durations are whole nanoseconds. Version 1 of this form is `pocare-ipc-spec/1`.
public enum SpecCanonicalForm {
    public static func text(
        identity: SpecIdentity, phases: [PhaseLimits], communicationLossPolls: Int, running: RunningSignal?,
        alignments: [SpecAlignment] = []
    ) -> String {
        var root: [(String, String)] = [
            ("form", string("pocare-ipc-spec/1")),
            ("identity", object([
                ("approval_date", string(identity.approvalDate)),
                ("approved_by", string(identity.approvedBy)),
                ("change_control", string(identity.changeControl)),
                ("document", string(identity.documentId)),
                ("process", string(identity.process)),
                ("product", string(identity.product)),
                ("profiles", array(identity.profiles.sorted().map(string))),
                ("version", string(identity.version)),
            ])),
            ("phases", object(phases.sorted { $0.phase < $1.phase }.map { phase in
                (phase.phase, object(phase.limits.sorted { $0.parameterId < $1.parameterId }.map { limits in
                    (limits.parameterId, self.limits(limits))
                }))
            })),
        ]
        var rules: [(String, String)] = [("communication_loss_polls", String(communicationLossPolls))]
        if let running {
            rules.append(("running", object([
                ("labels", array(running.labels.sorted().map(string))), ("parameter", string(running.parameterId)),
            ])))
        }
        root.append(("rules", object(rules)))
        // Written only where a spec names a progress variable, so the fingerprints of specs without one stay as they were.
        if !alignments.isEmpty {
            root.append(("comparability", object(alignments.sorted { $0.phase < $1.phase }.map { a in
                (a.phase, object([("align_by", string(a.parameterId)), ("bucket", number(a.bucket)), ("from", number(a.from))]))
            })))
        }
        return object(root.sorted { $0.0 < $1.0 })
    }

    static func limits(_ l: ParameterLimits) -> String {
        var fields: [(String, String)] = [
            ("deadband", number(l.deadband)), ("off_delay_ns", String(l.offDelay.nanoseconds)),
            ("on_delay_ns", String(l.onDelay.nanoseconds)), ("priority", string(l.priority.rawValue)),
            ("unit", string(l.unit)),
        ]
        let optional: [(String, Double?)] = [
            ("action_high", l.actionHigh), ("action_low", l.actionLow), ("alert_high", l.alertHigh),
            ("alert_low", l.alertLow), ("max_rate_per_min", l.maxRatePerMinute), ("target", l.target),
        ]
        for (key, value) in optional { if let value { fields.append((key, number(value))) } }
        if let stale = l.staleAfter { fields.append(("stale_after_ns", String(stale.nanoseconds))) }
        // Written only where used, so the fingerprints of specs without them stay as they were.
        switch l.discrete {
        case .flag(let alarmWhen)?: fields.append(("alarm_when", alarmWhen ? "true" : "false"))
        case .labels(let labels)?: fields.append(("alarm_labels", array(labels.sorted().map(string))))
        case nil: break
        }
        if l.discrete != nil { fields.append(("level", string(l.discreteLevel.rawValue))) }
        if l.latch { fields.append(("latch", "true")) }
        return object(fields.sorted { $0.0 < $1.0 })
    }

    static func object(_ fields: [(String, String)]) -> String { CanonicalJSON.object(fields) }
    static func array(_ items: [String]) -> String { CanonicalJSON.array(items) }
    static func string(_ s: String) -> String { CanonicalJSON.string(s) }
    static func number(_ v: Double) -> String { v == 0 ? "0.0" : "\(v)" }
}

