import Foundation
import POCareConfig

/// The `qms:` section of control.yaml: the quality system's periods and limits.
public struct QualitySettings: Sendable, Equatable, Codable {
    /// GxP training older than this is expired (the seed asks for a yearly refresh).
    public var trainingValidDays = 365
    /// A qualified site's comparability check is due this long after its last signed comparison.
    public var comparabilityIntervalDays = 365
    /// A check due within this many days is shown as coming due.
    public var checkDueWarningDays = 30
    /// Unmonitored time in a batch above this opens a deviation.
    public var unmonitoredLimitSeconds = 0.0
    /// A gap still open this long at the integrity check opens a deviation (shorter ones are
    /// records still on their way, or reaching two instances out of order).
    public var gapDeviationAfterSeconds = 300.0
    /// How often `pocare-control run` looks for deviations to open.
    public var scanIntervalSeconds = 10.0

    public init() {}

    static let keys: Set<String> = [
        "training_valid_for", "comparability_interval", "check_due_warning", "unmonitored_limit", "gap_deviation_after", "scan_interval",
    ]

    static func parse(_ value: Any, file: String) throws(ControlConfig.Invalid) -> QualitySettings {
        func invalid(_ field: String, _ message: String) -> ControlConfig.Invalid {
            ControlConfig.Invalid(description: "\(file): qms.\(field): \(message)")
        }
        guard let map = value as? [String: Any] else { throw invalid("(section)", "expected a mapping of \(keys.sorted().joined(separator: ", "))") }
        if let unknown = Set(map.keys).subtracting(keys).sorted().first {
            throw invalid(unknown, "unknown key (known: \(keys.sorted().joined(separator: ", ")))")
        }
        func seconds(_ key: String, _ range: ClosedRange<Double>) throws(ControlConfig.Invalid) -> Double? {
            guard let v = map[key] else { return nil }
            let text = (v as? String) ?? (v as? Int).map { "\($0)s" } ?? ""
            guard let d = parseDuration(text) else { throw invalid(key, "expected a duration such as 30s, 5m, 365d") }
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            guard range.contains(s) else { throw invalid(key, "expected a duration from \(Int(range.lowerBound)) s to \(Int(range.upperBound / 86400)) days") }
            return s
        }
        var s = QualitySettings()
        if let d = try seconds("training_valid_for", 86400...(3650 * 86400)) { s.trainingValidDays = Int(d / 86400) }
        if let d = try seconds("comparability_interval", 86400...(3650 * 86400)) { s.comparabilityIntervalDays = Int(d / 86400) }
        if let d = try seconds("check_due_warning", 0...(365 * 86400)) { s.checkDueWarningDays = Int(d / 86400) }
        s.unmonitoredLimitSeconds = try seconds("unmonitored_limit", 0...(30 * 86400)) ?? s.unmonitoredLimitSeconds
        s.gapDeviationAfterSeconds = try seconds("gap_deviation_after", 0...(30 * 86400)) ?? s.gapDeviationAfterSeconds
        s.scanIntervalSeconds = try seconds("scan_interval", 1...3600) ?? s.scanIntervalSeconds
        return s
    }
}
