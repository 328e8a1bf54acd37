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

    static let keys = [
        "training_valid_for", "comparability_interval", "check_due_warning", "unmonitored_limit", "gap_deviation_after", "scan_interval",
    ]

    /// Reads the `qms:` section; problems go to the file's diagnostics, located.
    static func parse(_ map: MappingReader) -> QualitySettings {
        map.rejectUnknownKeys(allowed: keys)
        func seconds(_ key: String, _ range: ClosedRange<Double>) -> Double? {
            guard let d = map.duration(key) else { return nil }
            let value = Double(d.nanoseconds) / 1e9
            guard range.contains(value) else {
                map.collector.error(map.fieldPath(key), "expected a duration from \(Int(range.lowerBound))s to \(Int(range.upperBound / 86400))d")
                return nil
            }
            return value
        }
        var s = QualitySettings()
        if let d = seconds("training_valid_for", 86400...(3650 * 86400)) { s.trainingValidDays = Int(d / 86400) }
        if let d = seconds("comparability_interval", 86400...(3650 * 86400)) { s.comparabilityIntervalDays = Int(d / 86400) }
        if let d = seconds("check_due_warning", 0...(365 * 86400)) { s.checkDueWarningDays = Int(d / 86400) }
        s.unmonitoredLimitSeconds = seconds("unmonitored_limit", 0...(30 * 86400)) ?? s.unmonitoredLimitSeconds
        s.gapDeviationAfterSeconds = seconds("gap_deviation_after", 0...(30 * 86400)) ?? s.gapDeviationAfterSeconds
        s.scanIntervalSeconds = seconds("scan_interval", 1...3600) ?? s.scanIntervalSeconds
        return s
    }
}
