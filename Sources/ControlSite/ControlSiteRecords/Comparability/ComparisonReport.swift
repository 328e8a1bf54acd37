import POCareCore

/// `pocare-control compare`: every batch that ran the spec in the phase, summarised per
/// parameter, and every site assessed against the reference site.
public struct ComparisonReport: Sendable, Codable, Equatable {
    public struct Batch: Sendable, Codable, Equatable {
        public var site: String
        public var batch: String
        public var device: String
        public var first: Double
        public var last: Double
        public var parameters: [BatchParameterSummary]
    }

    public var spec: String
    public var phase: String
    public var reference: String
    public var settings: Comparability.Settings
    public var batches: [Batch]
    public var sites: [Comparability.SiteAssessment]

    /// Reads the samples of `spec` in `phase` (since `since`, seconds since 1970) and assesses them.
    public static func load(
        _ connection: PostgresConnection, spec: IPCSpec, phase: String, reference: String, since: Double?,
        settings: Comparability.Settings = .init()
    ) throws -> ComparisonReport {
        guard let limits = spec.phase(phase) else {
            throw SpecRegister.Refusal(description: "the spec has no phase '\(phase)' (it has: \(spec.phases.map(\.phase).joined(separator: ", ")))")
        }
        let parameters = limits.limits.map(\.parameterId)
        // One column per parameter; a value that is not a number, or not read well, is no value.
        let columns = parameters.enumerated().map { i, _ in
            "CASE WHEN json_typeof(\"values\"->$\(i + 4)) = 'number' AND quality->>$\(i + 4) IS NULL "
                + "THEN (\"values\"->>$\(i + 4))::float8 END"
        }.joined(separator: ", ")
        let result = try connection.execute("""
            SELECT s.site, s.batch, s.device, extract(epoch FROM s.time)::float8, \(columns)
            FROM batch_runs r
            JOIN samples s ON s.site = r.site AND s.epoch = r.epoch AND s.stream = r.stream
                          AND s.seq BETWEEN r.first_seq AND r.last_seq
            WHERE r.spec = $1 AND r.phase = $2 AND s.spec = $1 AND s.phase = $2 AND s.batch = r.batch
              AND ($3::float8 IS NULL OR s.time >= to_timestamp($3::float8))
            ORDER BY s.site, s.batch, s.device, s.time
            """, [spec.fingerprint, phase, since.map { String($0) }] + parameters)

        struct Key: Hashable { var site, batch, device: String }
        var series: [Key: [(Double, [Double?])]] = [:]
        var order: [Key] = []
        for r in 0..<result.rowCount {
            let key = Key(site: result.string(r, 0)!, batch: result.string(r, 1)!, device: result.string(r, 2)!)
            if series[key] == nil { order.append(key) }
            series[key, default: []].append((result.double(r, 3)!, parameters.indices.map { result.double(r, 4 + $0) }))
        }
        let batches = order.map { key -> Batch in
            let points = series[key]!
            return Batch(
                site: key.site, batch: key.batch, device: key.device, first: points.first!.0, last: points.last!.0,
                parameters: parameters.enumerated().map { i, parameter in
                    BatchParameterSummary.summarise(
                        parameter: parameter, points: points.map { .init(time: $0.0, value: $0.1[i]) },
                        limits: limits.limits(for: parameter))
                })
        }
        var sites: [Comparability.SiteAssessment] = []
        for (i, parameter) in parameters.enumerated() {
            var means: [String: [Double]] = [:]
            for batch in batches { if let m = batch.parameters[i].mean { means[batch.site, default: []].append(m) } }
            guard !means.isEmpty else { continue }
            sites += Comparability.assess(parameter: parameter, batchMeans: means, reference: reference, settings: settings)
        }
        return ComparisonReport(spec: spec.fingerprint, phase: phase, reference: reference, settings: settings, batches: batches, sites: sites)
    }
}
