import Foundation
import POCareCore

extension ComparisonReport {
    /// The inputs, one CSV row per batch and parameter (excluded batches too, with why), as
    /// `pocare-control compare --csv` prints it and the comparability page offers it, so a
    /// statistician can redo the comparison with their own tools.
    public func csv() -> String {
        func number(_ x: Double?) -> String { x.map { String(format: "%.10g", $0) } ?? "" }
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var lines = ["site,device,batch,role,status,reasons,record_hash,certified_by,starting_material,phase_start,phase_duration_s,"
                     + "parameter,mean,sd,min,max,in_range_share,unmonitored_share"]
        for b in batches {
            for p in b.parameters {
                lines.append([b.site, b.device, b.batch, b.role, b.status.rawValue, b.reasons.joined(separator: "; "), b.recordHash ?? "",
                              b.certifiedBy ?? "", b.startingMaterial ?? "", b.phaseStart ?? "", number(b.phaseDurationS), p.parameter,
                              number(p.mean), number(p.standardDeviation), number(p.minimum), number(p.maximum), number(p.inRangeShare),
                              number(p.unmonitoredShare)].map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The trajectories Tier 3 compared, one CSV row per batch, parameter and bucket (batches
    /// drawn, that is included or for information): `axis` is `time` (bucket bounds in seconds
    /// since phase start) or the progress variable the comparison is aligned by (bounds in its
    /// unit). Where aligned, the time-bucket trajectories as read follow, the progress
    /// variable's among them, so the realignment can be redone.
    public func trajectoriesCSV() -> String {
        func number(_ x: Double) -> String { String(format: "%.10g", x) }
        var lines = ["site,device,batch,status,parameter,axis,axis_unit,bucket,bucket_from,bucket_to,value"]
        func rows(_ b: Batch, _ trajectories: [String: [Double?]], axis: String, unit: String, from: Double, width: Double) {
            for name in trajectories.keys.sorted() {
                for (i, value) in (trajectories[name] ?? []).enumerated() {
                    guard let value else { continue }
                    lines.append([b.site, b.device, b.batch, b.status.rawValue, name, axis, unit, String(i),
                                  number(from + Double(i) * width), number(from + Double(i + 1) * width), number(value)]
                        .map(Self.csvField).joined(separator: ","))
                }
            }
        }
        for b in batches where b.status != .excluded {
            if let a = settings.alignment {
                rows(b, b.trajectories, axis: a.parameter, unit: a.unit, from: a.from, width: a.bucket)
                rows(b, b.timeTrajectories ?? [:], axis: "time", unit: "s", from: 0, width: settings.bucketSeconds)
            } else {
                rows(b, b.trajectories, axis: "time", unit: "s", from: 0, width: settings.bucketSeconds)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// The report as canonical JSON (keys sorted, no spaces): the bytes a stored comparison's
    /// hash is over and a QA signature binds to.
    public func canonicalJSON(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    public static func decode(canonicalJSON data: Data) throws -> ComparisonReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(ComparisonReport.self, from: data)
    }
}

extension ComparisonReport {
    /// Reads the facts of every batch that ran the spec and builds the report. `freshChecks`
    /// checks every site record against the rows whatever was kept (a report stored for
    /// signature binds the rows, as a batch signature does).
    public static func load(
        _ connection: PostgresConnection, request: ComparisonRequest, freshChecks: Bool = false,
        currentRecordHash: @escaping (String, String) throws -> String?
    ) throws -> ComparisonReport {
        // The POC Master File decides which site is the reference, where it names one.
        let roles = try BatchFactsQuery.masterFileRoles(connection)
        if let registered = roles.first(where: { $0.value == "reference" })?.key, registered != request.reference {
            throw Refusal(description: "the POC Master File names \(registered) as the reference site, not \(request.reference)")
        }
        var query = BatchFactsQuery(connection: connection, reference: request.reference, currentRecordHash: currentRecordHash)
        query.freshChecks = freshChecks
        // The records are verified against the spec compared: its limits decide time in range and excursions.
        let spec = request.spec
        query.specs = { $0 == spec.fingerprint ? spec : nil }
        let facts = try query.load(spec: request.spec.fingerprint, since: request.since)
        var report = try build(request, facts: facts, generated: UTCTime.format(Date())) { f, start, end, parameters in
            try TrajectoryReader.read(
                connection, site: f.site, device: f.device, batch: f.batch, phase: request.phase, phaseStart: start, phaseEnd: end,
                bucketSeconds: request.settings.bucketSeconds, parameters: parameters)
        }
        if !roles.isEmpty { report.roleSource = BatchFactsQuery.masterFileRoleSource }
        return report
    }
}
