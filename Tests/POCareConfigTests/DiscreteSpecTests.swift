import Foundation
import POCareConfig
import POCareCore
import Testing

/// The minimal spec with one more line in its expansion phase.
func specWith(_ line: String) -> String { minimalSpec + "\n    " + line }

@Suite("IPC specification: discrete and latched rules")
struct DiscreteSpecTests {
    @Test("flags and statuses take discrete rules with priority, delays, level and latch")
    func parsesDiscreteRules() throws {
        let yaml = minimalSpec + """

                alarm_summary: { alarm_when: true, on_delay: 5s, priority: medium }
                bag_present: { alarm_when: false, level: action, priority: critical, latch: true }
                status: { alarm_labels: [fault, paused], on_delay: 10s, off_delay: 2s }
            """
        let result = SpecLoader.parse(yaml, file: "spec.yaml", profiles: profileCatalogue)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let phase = try #require(result.spec?.phase("expansion"))
        #expect(phase.limits(for: "alarm_summary")?.discrete == .flag(alarmWhen: true))
        #expect(phase.limits(for: "alarm_summary")?.onDelay == .seconds(5))
        let bag = try #require(phase.limits(for: "bag_present"))
        #expect(bag.discrete == .flag(alarmWhen: false) && bag.discreteLevel == .action && bag.latch && bag.priority == .critical)
        #expect(phase.limits(for: "status")?.discrete == .labels(["fault", "paused"]))
    }

    @Test("a spec without discrete rules or latches keeps its fingerprint; adding one changes it")
    func fingerprints() {
        let plain = fingerprint(minimalSpec)
        #expect(plain != nil)
        #expect(fingerprint(minimalSpec.replacingOccurrences(of: "on_delay: 30s }", with: "on_delay: 30s, latch: false }")) == plain)
        let latched = fingerprint(minimalSpec.replacingOccurrences(of: "on_delay: 30s }", with: "on_delay: 30s, latch: true }"))
        #expect(latched != nil && latched != plain)
        let a = fingerprint(specWith("status: { alarm_labels: [fault, paused] }"))
        let b = fingerprint(specWith("status: { alarm_labels: [paused, fault], level: alert }"))
        #expect(a != nil && a == b, "label order and the default level do not change the fingerprint")
        #expect(fingerprint(specWith("alarm_summary: { alarm_when: true }")) != fingerprint(specWith("alarm_summary: { alarm_when: false }")))
    }

    @Test("each misuse of a discrete rule is a located diagnostic")
    func misuse() {
        let cases: [(String, String, String)] = [
            ("temperature2: { alarm_when: true }", "phases.expansion.temperature2", "no profile named by the spec has a parameter"),
            ("dissolved_oxygen: { alarm_when: true }", "phases.expansion.dissolved_oxygen.alarm_when", "is not a bool or bit; give limits"),
            ("status: { alarm_when: true }", "phases.expansion.status.alarm_when", "for an enumerated status give alarm_labels"),
            ("alarm_summary: { alarm_labels: [on] }", "phases.expansion.alarm_summary.alarm_labels", "for a flag give alarm_when"),
            ("status: { alarm_labels: [broken] }", "phases.expansion.status.alarm_labels", "'broken' is not a label of 'status'"),
            ("status: { alarm_labels: [] }", "phases.expansion.status.alarm_labels", "name at least one label"),
            ("status: { alarm_labels: [fault, fault] }", "phases.expansion.status.alarm_labels[1]", "named twice"),
            ("alarm_summary: { alarm_when: yes please }", "phases.expansion.alarm_summary.alarm_when", "expected true or false"),
            ("alarm_summary: { alarm_when: true, alarm_labels: [fault] }", "phases.expansion.alarm_summary.alarm_labels", "not both"),
            ("alarm_summary: { alarm_when: true, alert_high: 1 }", "phases.expansion.alarm_summary.alert_high", "takes no alert_high"),
            ("alarm_summary: { alarm_when: true, level: severe }", "phases.expansion.alarm_summary.level", "expected alert or action"),
            ("alarm_summary: { alarm_when: true, unit: Cel }", "phases.expansion.alarm_summary.unit", "does not match"),
            ("alarm_summary: { alarm_when: true, on_delay: 25h }", "phases.expansion.alarm_summary.on_delay", "at most 24h"),
            ("alarm_summary: { alarm_when: true, latch: maybe }", "phases.expansion.alarm_summary.latch", "expected true or false"),
            ("alarm_summary: { unit: \"\", alert_high: 1 }", "phases.expansion.alarm_summary", "for a flag give alarm_when"),
            ("co2: { unit: \"%\", alert_high: 6, level: action }", "phases.expansion.co2.level", "applies to a discrete alarm"),
        ]
        for (line, field, message) in cases {
            let found = specDiagnostics(specWith(line))
            #expect(found.contains { $0.field == field && $0.message.contains(message) && $0.line > 1 },
                    "\(line): \(found.map { "\($0.field): \($0.message)" })")
        }
    }
}
