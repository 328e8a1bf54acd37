import Foundation

extension ComparisonReport {
    /// One CSV row per batch and parameter, as `pocare-control compare --csv` prints it and the
    /// comparability page offers it for download.
    public func csv() -> String {
        func number(_ x: Double?) -> String { x.map { String(format: "%.4g", $0) } ?? "" }
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var lines = ["site,batch,device,parameter,mean,sd,in_range_share,alert_share,action_share,excursions,excursion_seconds,unmonitored_share"]
        for b in batches {
            for p in b.parameters {
                lines.append([b.site, b.batch, b.device, p.parameter, number(p.mean), number(p.standardDeviation), number(p.inRangeShare),
                              number(p.alertShare), number(p.actionShare), String(p.excursions), number(p.excursionSeconds),
                              number(p.unmonitoredShare)].map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
