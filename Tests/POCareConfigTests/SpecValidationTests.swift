import Foundation
import Hashing
import POCareConfig
import POCareCore
import PropertyBased
import Testing

let profileCatalogue = SpecLoader.profileCatalogue(directory: packageRoot.appendingPathComponent("DeviceProfiles").path)
let exampleSpecPath = packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml").path

let minimalSpec = """
    spec:
      product: P
      process: Q
      document: DOC-1
      version: "1"
      approved_by: QA
      approval_date: 2026-01-02
      change_control: CC-1
      profiles: [rocking-bag-rb50, stirred-tank-str10]
    rules:
      communication_loss_polls: 4
      running: { parameter: running }
    phases:
      expansion:
        temperature: { unit: Cel, target: 37, alert_low: 36.5, alert_high: 37.5, action_low: 36, action_high: 38, on_delay: 30s }
    """

func specDiagnostics(_ yaml: String) -> [Diagnostic] {
    SpecLoader.parse(yaml, file: "spec.yaml", profiles: profileCatalogue).diagnostics
}

func fingerprint(_ yaml: String) -> String? {
    SpecLoader.parse(yaml, file: "spec.yaml", profiles: profileCatalogue).spec?.fingerprint
}

@Suite("IPC specification validation")
struct SpecValidationTests {
    @Test("the example CAR-T spec is valid against the shipped profiles and says it is an example")
    func exampleSpec() throws {
        let result = SpecLoader.load(path: exampleSpecPath, profiles: profileCatalogue)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let spec = try #require(result.spec)
        #expect(spec.phases.map(\.phase) == ["activation", "transduction", "expansion", "harvest"])
        let temperature = try #require(spec.phase("expansion")?.limits(for: "temperature"))
        #expect(temperature.target == 37.0 && temperature.alertLow == 36.5 && temperature.actionHigh == 38.0)
        #expect(temperature.onDelay == .seconds(30))
        #expect(spec.fingerprint.hasPrefix("sha256:") && spec.fingerprint.count == 71)
        #expect(try String(contentsOfFile: exampleSpecPath, encoding: .utf8).contains("EXAMPLE SPECIFICATION"))
    }

    @Test("the alert range must lie inside the action range")
    func alertInsideAction() {
        let yaml = minimalSpec.replacingOccurrences(of: "action_low: 36,", with: "action_low: 36.7,")
        let found = specDiagnostics(yaml)
        #expect(found.map(\.field) == ["phases.expansion.temperature.action_low"])
        #expect(found.first?.message.contains("inside the action range") == true)
        #expect(found.first?.line == 15)
    }

    @Test("low must be below high")
    func lowBelowHigh() {
        let yaml = minimalSpec.replacingOccurrences(of: "alert_low: 36.5, alert_high: 37.5", with: "alert_low: 37.5, alert_high: 36.5")
        #expect(specDiagnostics(yaml).contains { $0.field == "phases.expansion.temperature.alert_low" && $0.message.contains("must be below") })
    }

    @Test("a parameter no named profile has is an error at its line")
    func unknownParameter() {
        let yaml = minimalSpec + "\n    osmolality: { unit: mosm/kg, alert_low: 280, alert_high: 320 }"
        let found = specDiagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.field == "phases.expansion.osmolality")
        #expect(found.first?.line == 16)
        #expect(found.first?.message.contains("no profile named by the spec has a parameter 'osmolality'") == true)
    }

    @Test("the unit must match every named profile")
    func unitMismatch() {
        let yaml = minimalSpec.replacingOccurrences(of: "unit: Cel", with: "unit: degF")
        let found = specDiagnostics(yaml)
        #expect(found.count == 2, "one per profile: \(found)")
        #expect(found.allSatisfy { $0.field == "phases.expansion.temperature.unit" && $0.message.contains("does not match 'Cel'") })
    }

    @Test("a phase the profiles do not report is unknown")
    func unknownPhase() {
        let yaml = minimalSpec.replacingOccurrences(of: "  expansion:", with: "  expanshun:")
        let found = specDiagnostics(yaml)
        #expect(found.map(\.field) == ["phases.expanshun"])
        #expect(found.first?.message.contains("known: activation, expansion, harvest, none, transduction") == true)
    }

    @Test("a parameter given twice in a phase is a duplicate")
    func duplicateEntry() {
        let yaml = minimalSpec + "\n    temperature: { unit: Cel, alert_low: 30 }"
        #expect(specDiagnostics(yaml).contains { $0.message.contains("duplicate key 'temperature'") })
    }

    @Test("a bad date, an unknown priority and an unknown key are each named")
    func identityErrors() {
        let yaml = minimalSpec
            .replacingOccurrences(of: "2026-01-02", with: "02.01.2026")
            .replacingOccurrences(of: "on_delay: 30s }", with: "on_delay: 30s, priority: urgent, ondelay: 3s }")
        let fields = specDiagnostics(yaml).map(\.field)
        #expect(fields.contains("spec.approval_date"))
        #expect(fields.contains("phases.expansion.temperature.priority"))
        #expect(fields.contains("phases.expansion.temperature.ondelay"))
    }

    @Test("one spec serves sites with different equipment: valid where at least one of its profiles is present")
    func sharedAcrossSites() {
        // A site with only the stirred tank: the spec's other model is elsewhere.
        let onlyTank = profileCatalogue.filter { $0.key == "stirred-tank-str10" }
        let here = SpecLoader.parse(minimalSpec, file: "spec.yaml", profiles: onlyTank)
        #expect(here.spec != nil, "\(here.diagnostics)")
        #expect(here.spec?.fingerprint == fingerprint(minimalSpec), "the same fingerprint at every site")
        let nowhere = SpecLoader.parse(minimalSpec.replacingOccurrences(of: "[rocking-bag-rb50, stirred-tank-str10]", with: "[model-x, model-y]"),
                                       file: "spec.yaml", profiles: profileCatalogue)
        #expect(nowhere.spec == nil)
        #expect(nowhere.diagnostics.map(\.field) == ["spec.profiles"])
    }

    @Test("an impossible approval date is refused", arguments: ["2026-02-31", "2026-13-01", "26-01-01"])
    func impossibleDate(date: String) {
        let yaml = minimalSpec.replacingOccurrences(of: "2026-01-02", with: date)
        #expect(specDiagnostics(yaml).map(\.field) == ["spec.approval_date"])
    }

    @Test("a one-sided range must still nest: action_low below alert_high")
    func oneSidedNesting() {
        let yaml = minimalSpec + "\n    ph: { unit: \"[pH]\", alert_high: 7.4, action_low: 7.5 }"
        #expect(specDiagnostics(yaml).map(\.field) == ["phases.expansion.ph.action_low"])
    }

    @Test("the running signal must exist in every named profile and be a flag or have labels")
    func runningSignal() {
        let yaml = minimalSpec.replacingOccurrences(of: "{ parameter: running }", with: "{ parameter: status }")
        let found = specDiagnostics(yaml)
        #expect(found.contains { $0.field == "rules.running.parameter" && $0.message.contains("stirred-tank-str10") })
        #expect(found.contains { $0.message.contains("is not a bool or bit") })
    }

    @Test("limits on a state parameter are refused")
    func nonNumericParameter() {
        let yaml = minimalSpec + "\n    phase: { unit: '1', alert_low: 1 }"
        #expect(specDiagnostics(yaml).contains { $0.message.contains("not a numeric measurement") })
    }
}

@Suite("IPC specification fingerprint")
struct SpecFingerprintTests {
    @Test("the fingerprint ignores layout, comments, key order and number spelling")
    func layoutDoesNotMatter() throws {
        let reordered = """
            # the same spec, written differently
            phases:
              expansion:
                temperature:
                  on_delay: 30000ms
                  action_high: 3.8e1
                  action_low: 36.0
                  alert_high: 37.50
                  alert_low: 36.5
                  target: 37.0
                  unit: "Cel"
            rules: { running: { parameter: running }, communication_loss_polls: 4 }
            spec:
              profiles: [stirred-tank-str10, rocking-bag-rb50]
              change_control: CC-1
              approval_date: "2026-01-02"
              approved_by: QA
              version: "1"
              document: DOC-1
              process: Q
              product: P
            """
        let a = try #require(fingerprint(minimalSpec))
        #expect(fingerprint(reordered) == a)
    }

    @Test("any change of a limit, delay, rule or identity field changes the fingerprint")
    func anyChangeMatters() async throws {
        let base = try #require(fingerprint(minimalSpec))
        let edits = [
            ("target: 37,", "target: 37.01,"), ("alert_low: 36.5", "alert_low: 36.4"), ("alert_high: 37.5", "alert_high: 37.6"),
            ("action_low: 36,", "action_low: 35.9,"), ("action_high: 38", "action_high: 38.1"), ("on_delay: 30s", "on_delay: 31s"),
            ("communication_loss_polls: 4", "communication_loss_polls: 5"), ("version: \"1\"", "version: \"2\""),
            ("approved_by: QA", "approved_by: QA2"), ("on_delay: 30s }", "on_delay: 30s, deadband: 0.01 }"),
            ("on_delay: 30s }", "on_delay: 30s, priority: critical }"),
        ]
        for (old, new) in edits {
            #expect(minimalSpec.contains(old))
            let changed = fingerprint(minimalSpec.replacingOccurrences(of: old, with: new))
            #expect(changed != nil && changed != base, "\(new)")
        }
    }

    @Test("random limits: reordering keys keeps the fingerprint, nudging any limit changes it")
    func randomLimits() async {
        let limits = Gen.double(in: 30...36).array(of: 4)
        await propertyCheck(count: 100, input: limits, Gen.int(in: 0...3), Gen.int(in: 1...1000)) { raw, which, nudge in
            let sorted = raw.sorted()
            guard Set(sorted).count == 4 else { return }
            let keys = ["action_low", "alert_low", "alert_high", "action_high"]
            func spec(_ values: [Double], reversed: Bool) -> String {
                var pairs = zip(keys, values).map { "\($0): \($1)" } + ["unit: Cel"]
                if reversed { pairs.reverse() }
                return minimalSpec.replacingOccurrences(
                    of: "{ unit: Cel, target: 37, alert_low: 36.5, alert_high: 37.5, action_low: 36, action_high: 38, on_delay: 30s }",
                    with: "{ \(pairs.joined(separator: ", ")) }")
            }
            let original = fingerprint(spec(sorted, reversed: false))
            #expect(original != nil)
            #expect(fingerprint(spec(sorted, reversed: true)) == original)
            var nudged = sorted
            nudged[which] += Double(nudge) * 1e-9
            let changed = fingerprint(spec(nudged, reversed: false))
            if let changed { #expect(changed != original) }
        }
    }

    @Test("SHA-256 from libcrypto matches the standard test vectors")
    func sha256Vectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
