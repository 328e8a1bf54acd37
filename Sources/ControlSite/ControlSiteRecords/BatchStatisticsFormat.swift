import POCareContract
import Foundation

/// How the Control Site writes the statistics' times and numbers, on the command line and the
/// pages alike: times as the contract writes them (UTC, to the millisecond), numbers to four decimals.
public enum BatchStatisticsFormat {
    public static func time(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e11 else { return "-" }
        return Contract.format(Date(timeIntervalSince1970: seconds))
    }

    public static func number(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        let rounded = (x * 10_000).rounded() / 10_000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }
}
