import Foundation
import Hashing
import POCareCore
import Yams

/// Reads an in-process control specification and checks it against the device profiles it
/// names, reporting every problem as `file:line:column: field: message`.
public enum SpecLoader {
    public struct Result: Sendable {
        public var spec: IPCSpec?
        public var diagnostics: [Diagnostic]
    }

    static let topKeys = ["spec", "rules", "phases", "comparability"]
    static let identityKeys = [
        "product", "process", "document", "version", "approved_by", "approval_date", "change_control", "profiles",
        "description",
    ]
    static let ruleKeys = ["communication_loss_polls", "running"]
    static let limitKeys = [
        "unit", "target", "alert_low", "alert_high", "action_low", "action_high", "max_rate_per_min", "on_delay",
        "off_delay", "deadband", "priority", "stale_after", "alarm_when", "alarm_labels", "level", "latch",
    ]
    /// Keys that only make sense for a measured number, never for a flag or a status.
    static let analogKeys = ["target", "alert_low", "alert_high", "action_low", "action_high", "max_rate_per_min", "deadband", "stale_after"]

    /// Every valid profile in a folder, by profile id (invalid ones are skipped: validate them on their own).
    public static func profileCatalogue(directory: String) -> [String: DeviceProfile] {
        // A folder that cannot be listed holds no profiles here; checking a spec then names the profiles it lacks.
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var catalogue: [String: DeviceProfile] = [:]
        for file in files.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            if let profile = ProfileLoader.load(path: "\(directory)/\(file)").profile { catalogue[profile.id] = profile }
        }
        return catalogue
    }

    public static func load(path: String, profiles: [String: DeviceProfile]) -> Result {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            return Result(spec: nil, diagnostics: [
                Diagnostic(file: path, line: 1, column: 1, field: "(file)", message: "cannot read file: \(error.localizedDescription)")
            ])
        }
        return parse(text, file: path, profiles: profiles)
    }

    public static func parse(_ text: String, file: String, profiles catalogue: [String: DeviceProfile]) -> Result {
        let collector = DiagnosticCollector(file: file)
        guard let root = collector.compose(text), let top = MappingReader(root, path: "", collector: collector) else {
            return Result(spec: nil, diagnostics: collector.diagnostics)
        }
        top.rejectUnknownKeys(allowed: topKeys)
        var identity: SpecIdentity?
        var profiles: [DeviceProfile] = []
        if let id = top.mappingReader("spec", required: true) {
            (identity, profiles) = parseIdentity(id, catalogue: catalogue, collector: collector)
        }
        let (lossPolls, running) = parseRules(top, profiles: profiles, collector: collector)
        let phases = parsePhases(top, profiles: profiles, collector: collector)
        let alignments = parseComparability(top, phases: phases, profiles: profiles, collector: collector)

        guard !collector.hasErrors, let identity else { return Result(spec: nil, diagnostics: collector.diagnostics) }
        let canonical = SpecCanonicalForm.text(
            identity: identity, phases: phases, communicationLossPolls: lossPolls, running: running, alignments: alignments)
        var spec = IPCSpec(
            identity: identity, phases: phases, communicationLossPolls: lossPolls, running: running,
            fingerprint: "sha256:" + SHA256.hex(canonical))
        spec.alignments = alignments
        spec.canonicalForm = canonical
        spec.source = text
        return Result(spec: spec, diagnostics: collector.diagnostics)
    }

    /// Identity and approval, and the profiles of this site among those the spec names.
    private static func parseIdentity(
        _ id: MappingReader, catalogue: [String: DeviceProfile], collector: DiagnosticCollector
    ) -> (SpecIdentity, [DeviceProfile]) {
        id.rejectUnknownKeys(allowed: identityKeys)
        let fields = ["product", "process", "document", "version", "approved_by", "approval_date", "change_control"]
            .map { id.string($0, required: true) }
        _ = id.string("description")
        if let date = fields[5], !isCalendarDate(date) {
            collector.error("spec.approval_date", "expected a date as YYYY-MM-DD, got '\(date)'")
        }
        let (profileIds, profiles) = parseProfiles(id, catalogue: catalogue, collector: collector)
        let f = fields.map { $0 ?? "" }
        let identity = SpecIdentity(
            product: f[0], process: f[1], documentId: f[2], version: f[3], approvedBy: f[4], approvalDate: f[5],
            changeControl: f[6], profiles: profileIds)
        return (identity, profiles)
    }

    /// The profile ids the spec names, and those of them this site has.
    private static func parseProfiles(
        _ id: MappingReader, catalogue: [String: DeviceProfile], collector: DiagnosticCollector
    ) -> ([String], [DeviceProfile]) {
        var profileIds: [String] = []
        var profiles: [DeviceProfile] = []
        let nodes = id.sequence("profiles", required: true) ?? []
        if id.has("profiles") && nodes.isEmpty { collector.error("spec.profiles", "name at least one device profile") }
        for (index, node) in nodes.enumerated() {
            guard let name = node.scalar?.string else {
                collector.error("spec.profiles[\(index)]", at: node.mark, "expected a profile id")
                continue
            }
            if profileIds.contains(name) {
                collector.error("spec.profiles[\(index)]", at: node.mark, "profile '\(name)' is named twice")
            } else if let profile = catalogue[name] {
                profiles.append(profile)
            }
            profileIds.append(name)
        }
        // One approved spec serves sites with different equipment: it names every model it
        // was written for, and a site checks it against the ones it has. None at all is an
        // error, for the spec could hold no device here to anything.
        if !profileIds.isEmpty && profiles.isEmpty {
            let known = catalogue.keys.sorted().joined(separator: ", ")
            collector.error(
                "spec.profiles", "none of the profiles this spec names (\(profileIds.joined(separator: ", "))) is at this site (known: \(known.isEmpty ? "none" : known))")
        }
        return (profileIds, profiles)
    }

    /// The rules for the whole batch: when communication counts as lost, and which signal says
    /// the device runs.
    private static func parseRules(
        _ top: MappingReader, profiles: [DeviceProfile], collector: DiagnosticCollector
    ) -> (lossPolls: Int, running: RunningSignal?) {
        var lossPolls = 3
        var running: RunningSignal?
        guard let rules = top.mappingReader("rules") else { return (lossPolls, running) }
        rules.rejectUnknownKeys(allowed: ruleKeys)
        if let n = rules.int("communication_loss_polls", in: 1...1000) { lossPolls = n }
        if let signal = rules.mappingReader("running") {
            signal.rejectUnknownKeys(allowed: ["parameter", "labels"])
            var labels: [String] = []
            for (index, node) in (signal.sequence("labels") ?? []).enumerated() {
                if let label = node.scalar?.string { labels.append(label) } else {
                    collector.error("rules.running.labels[\(index)]", at: node.mark, "expected a label")
                }
            }
            if let parameterId = signal.string("parameter", required: true) {
                let signal = RunningSignal(parameterId: parameterId, labels: labels)
                running = signal
                checkRunningSignal(signal, profiles: profiles, collector: collector)
            }
        }
        return (lossPolls, running)
    }

    /// Each phase with the limits of its parameters.
    private static func parsePhases(_ top: MappingReader, profiles: [DeviceProfile], collector: DiagnosticCollector) -> [PhaseLimits] {
        let knownPhases = Set(profiles.flatMap { p in p.parameter("phase")?.enumeration.map { Array($0.values) } ?? [] })
        var phases: [PhaseLimits] = []
        guard let phaseMap = top.mappingReader("phases", required: true) else { return phases }
        if phaseMap.mapping.count == 0 { collector.error("phases", "define at least one phase") }
        for (key, value) in phaseMap.mapping {
            let phase = key.scalar?.string ?? ""
            let path = "phases.\(phase)"
            if !knownPhases.isEmpty && !knownPhases.contains(phase) {
                collector.error(path, at: key.mark, "phase '\(phase)' is not a phase the profiles report (known: \(knownPhases.sorted().joined(separator: ", ")))")
            }
            guard let entries = MappingReader(value, path: path, collector: collector) else { continue }
            var limits: [ParameterLimits] = []
            for (parameterKey, limitNode) in entries.mapping {
                let parameterId = parameterKey.scalar?.string ?? ""
                let limitPath = "\(path).\(parameterId)"
                guard let reader = MappingReader(limitNode, path: limitPath, collector: collector) else { continue }
                if let parsed = parseLimits(reader, parameterId: parameterId, profiles: profiles, at: parameterKey.mark, collector: collector) {
                    limits.append(parsed)
                }
            }
            phases.append(PhaseLimits(phase: phase, limits: limits))
        }
        return phases
    }

    private static func checkRunningSignal(_ signal: RunningSignal, profiles: [DeviceProfile], collector: DiagnosticCollector) {
        for profile in profiles {
            guard let parameter = profile.parameter(signal.parameterId) else {
                collector.error("rules.running.parameter", "profile '\(profile.id)' has no parameter '\(signal.parameterId)'")
                continue
            }
            if signal.labels.isEmpty {
                var isFlag = parameter.dataType == .bool
                if case .bit = parameter.dataType { isFlag = true }
                if !isFlag {
                    collector.error("rules.running.parameter", "'\(signal.parameterId)' in '\(profile.id)' is not a bool or bit; give labels for an enumerated status")
                }
            } else {
                let known = Set(parameter.enumeration?.values.map { $0 } ?? [])
                for label in signal.labels where !known.contains(label) {
                    collector.error("rules.running.labels", "'\(label)' is not a label of '\(signal.parameterId)' in '\(profile.id)'")
                }
            }
        }
    }

    private static func parseLimits(
        _ reader: MappingReader, parameterId: String, profiles: [DeviceProfile], at mark: Mark?,
        collector: DiagnosticCollector
    ) -> ParameterLimits? {
        let path = reader.path
        reader.rejectUnknownKeys(allowed: limitKeys)
        let isDiscrete = reader.has("alarm_when") || reader.has("alarm_labels")
        let unit = reader.string("unit", required: !isDiscrete)
        var limits = ParameterLimits(parameterId: parameterId, unit: unit ?? "")
        limits.target = reader.double("target")
        limits.alertLow = reader.double("alert_low")
        limits.alertHigh = reader.double("alert_high")
        limits.actionLow = reader.double("action_low")
        limits.actionHigh = reader.double("action_high")
        limits.maxRatePerMinute = reader.double("max_rate_per_min")
        limits.onDelay = reader.duration("on_delay") ?? .zero
        limits.offDelay = reader.duration("off_delay") ?? .zero
        limits.deadband = reader.double("deadband") ?? 0
        limits.staleAfter = reader.duration("stale_after")
        limits.latch = reader.bool("latch") ?? false
        if isDiscrete {
            return parseDiscrete(reader, limits, profiles: profiles, at: mark, collector: collector)
        }
        if reader.has("level") {
            collector.error("\(path).level", "level applies to a discrete alarm (with alarm_when or alarm_labels); a limit's level follows from the range crossed")
        }
        readPriority(reader, into: &limits, collector: collector)

        // The parameter must exist in the named profiles, be numeric, and use the same unit.
        // A limit on a parameter one model lacks applies to the models that have it (the example
        // spec limits rocking_rate for bag rockers and agitation for stirred tanks).
        for (profile, parameter) in parameters(parameterId, in: profiles, path: path, at: mark, collector: collector) {
            if !parameter.dataType.isNumeric || parameter.enumeration != nil {
                collector.error(path, at: mark, "'\(parameterId)' in '\(profile.id)' is not a numeric measurement; limits need a number (for a flag give alarm_when, for a status alarm_labels)")
            } else if let unit, parameter.unit != unit {
                collector.error("\(path).unit", "unit '\(unit)' does not match '\(parameter.unit)' of '\(parameterId)' in profile '\(profile.id)'")
            }
        }
        checkRanges(limits, path: path, at: mark, collector: collector)
        return limits
    }

    /// The parameter in each named profile that has it; none at all is an error.
    private static func parameters(
        _ parameterId: String, in profiles: [DeviceProfile], path: String, at mark: Mark?, collector: DiagnosticCollector
    ) -> [(DeviceProfile, Parameter)] {
        let matches = profiles.compactMap { p in p.parameter(parameterId).map { (p, $0) } }
        if matches.isEmpty && !profiles.isEmpty {
            collector.error(path, at: mark, "no profile named by the spec has a parameter '\(parameterId)' (profiles: \(profiles.map(\.id).joined(separator: ", ")))")
        }
        return matches
    }

    private static func readPriority(_ reader: MappingReader, into limits: inout ParameterLimits, collector: DiagnosticCollector) {
        guard let text = reader.string("priority") else { return }
        if let priority = AlarmPriority(rawValue: text) {
            limits.priority = priority
        } else {
            collector.error("\(reader.path).priority", "unknown priority '\(text)'; expected low, medium, high or critical")
        }
    }

    /// The ranges, rate, deadband and times of a measured number must make sense on their own.
    private static func checkRanges(_ limits: ParameterLimits, path: String, at mark: Mark?, collector: DiagnosticCollector) {
        func pair(_ low: Double?, _ high: Double?, _ lowKey: String, _ highKey: String) {
            if let low, let high, low >= high {
                collector.error("\(path).\(lowKey)", "\(lowKey) \(formatNumber(low)) must be below \(highKey) \(formatNumber(high))")
            }
        }
        pair(limits.alertLow, limits.alertHigh, "alert_low", "alert_high")
        pair(limits.actionLow, limits.actionHigh, "action_low", "action_high")
        if let alert = limits.alertLow, let action = limits.actionLow, action > alert {
            collector.error("\(path).action_low", "action_low \(formatNumber(action)) must not be above alert_low \(formatNumber(alert)): the alert range lies inside the action range")
        }
        if let alert = limits.alertHigh, let action = limits.actionHigh, action < alert {
            collector.error("\(path).action_high", "action_high \(formatNumber(action)) must not be below alert_high \(formatNumber(alert)): the alert range lies inside the action range")
        }
        if let low = limits.alertLow, limits.alertHigh == nil, let high = limits.actionHigh, high <= low {
            collector.error("\(path).action_high", "action_high must be above alert_low")
        }
        if let high = limits.alertHigh, limits.alertLow == nil, let low = limits.actionLow, low >= high {
            collector.error("\(path).action_low", "action_low must be below alert_high")
        }
        if let target = limits.target {
            let low = limits.alertLow ?? limits.actionLow ?? -.infinity
            let high = limits.alertHigh ?? limits.actionHigh ?? .infinity
            if !(low < target && target < high) {
                collector.error("\(path).target", "target \(formatNumber(target)) lies outside its own range")
            }
        }
        let hasRange = [limits.alertLow, limits.alertHigh, limits.actionLow, limits.actionHigh].contains { $0 != nil }
        if !hasRange && limits.maxRatePerMinute == nil && limits.staleAfter == nil {
            collector.error(path, at: mark, "give at least one limit (alert_low/high, action_low/high), max_rate_per_min or stale_after")
        }
        if limits.deadband < 0 { collector.error("\(path).deadband", "deadband must not be negative") }
        if let low = limits.alertLow, let high = limits.alertHigh, limits.deadband >= (high - low) / 2 {
            collector.error("\(path).deadband", "deadband \(formatNumber(limits.deadband)) must be less than half the alert range")
        }
        if let rate = limits.maxRatePerMinute, rate <= 0 {
            collector.error("\(path).max_rate_per_min", "must be above 0")
        }
        checkDelays(limits, path: path, collector: collector)
        if let stale = limits.staleAfter, stale <= .zero {
            collector.error("\(path).stale_after", "must be above 0")
        }
    }

    private static func checkDelays(_ limits: ParameterLimits, path: String, collector: DiagnosticCollector) {
        for (key, value) in [("on_delay", limits.onDelay), ("off_delay", limits.offDelay)] where value > .seconds(86_400) {
            collector.error("\(path).\(key)", "must be at most 24h")
        }
    }

    /// A discrete rule: `alarm_when: true|false` on a flag, or `alarm_labels: [..]` on an
    /// enumerated status, with priority, delays, level and latch.
    private static func parseDiscrete(
        _ reader: MappingReader, _ base: ParameterLimits, profiles: [DeviceProfile], at mark: Mark?,
        collector: DiagnosticCollector
    ) -> ParameterLimits? {
        let path = reader.path
        var limits = base
        limits.onDelay = reader.duration("on_delay") ?? .zero
        limits.offDelay = reader.duration("off_delay") ?? .zero
        readPriority(reader, into: &limits, collector: collector)
        if let text = reader.string("level") {
            if let level = ParameterLimits.DiscreteLevel(rawValue: text) {
                limits.discreteLevel = level
            } else {
                collector.error("\(path).level", "unknown level '\(text)'; expected alert or action")
            }
        }
        for key in analogKeys where reader.has(key) {
            collector.error("\(path).\(key)", "a discrete alarm (alarm_when or alarm_labels) takes no \(key); limits belong to a measured number")
        }
        if reader.has("alarm_when") && reader.has("alarm_labels") {
            collector.error("\(path).alarm_labels", "give alarm_when for a flag or alarm_labels for a status, not both")
            return nil
        }
        if reader.has("alarm_when") {
            guard let when = reader.bool("alarm_when") else { return nil }
            limits.discrete = .flag(alarmWhen: when)
        } else {
            limits.discrete = .labels(parseAlarmLabels(reader, collector: collector))
        }
        checkDiscreteParameter(limits, profiles: profiles, path: path, at: mark, collector: collector)
        checkDelays(limits, path: path, collector: collector)
        return limits
    }

    /// The labels of a status that raise its alarm: at least one, each once.
    private static func parseAlarmLabels(_ reader: MappingReader, collector: DiagnosticCollector) -> [String] {
        let path = reader.path
        var labels: [String] = []
        let nodes = reader.sequence("alarm_labels") ?? []
        for (index, node) in nodes.enumerated() {
            guard let label = node.scalar?.string, !label.isEmpty else {
                collector.error("\(path).alarm_labels[\(index)]", at: node.mark, "expected a label")
                continue
            }
            if labels.contains(label) {
                collector.error("\(path).alarm_labels[\(index)]", at: node.mark, "label '\(label)' is named twice")
            }
            labels.append(label)
        }
        if reader.has("alarm_labels") && nodes.isEmpty {
            collector.error("\(path).alarm_labels", "name at least one label that raises the alarm")
        }
        return labels
    }

    /// A flag rule needs a bool or bit, a labels rule an enumerated status that has the labels;
    /// a unit given must be the parameter's.
    private static func checkDiscreteParameter(
        _ limits: ParameterLimits, profiles: [DeviceProfile], path: String, at mark: Mark?, collector: DiagnosticCollector
    ) {
        let parameterId = limits.parameterId
        for (profile, parameter) in parameters(parameterId, in: profiles, path: path, at: mark, collector: collector) {
            var isFlag = parameter.dataType == .bool
            if case .bit = parameter.dataType { isFlag = true }
            switch limits.discrete {
            case .flag?:
                if !isFlag {
                    let hint = parameter.enumeration != nil ? "; for an enumerated status give alarm_labels" : "; give limits for a measured number"
                    collector.error("\(path).alarm_when", "'\(parameterId)' in '\(profile.id)' is not a bool or bit\(hint)")
                }
            case .labels(let labels)?:
                if let enumeration = parameter.enumeration {
                    let known = Set(enumeration.values)
                    for label in labels where !known.contains(label) {
                        collector.error("\(path).alarm_labels", "'\(label)' is not a label of '\(parameterId)' in '\(profile.id)' (labels: \(known.sorted().joined(separator: ", ")))")
                    }
                } else {
                    let hint = isFlag ? "; for a flag give alarm_when" : "; give limits for a measured number"
                    collector.error("\(path).alarm_labels", "'\(parameterId)' in '\(profile.id)' is not an enumerated status\(hint)")
                }
            case nil:
                break
            }
            if !limits.unit.isEmpty, parameter.unit != limits.unit {
                let unit = limits.unit
                collector.error("\(path).unit", "unit '\(unit)' does not match '\(parameter.unit)' of '\(parameterId)' in profile '\(profile.id)'")
            }
        }
    }

    static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day)
        return components.isValidDate(in: calendar)
    }
}
