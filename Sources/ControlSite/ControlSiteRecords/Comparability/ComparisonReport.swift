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

    /// Reads every batch that ran `spec` in `phase` (with records in it from `since` on, seconds since
    /// 1970) and assesses them.
    public static func load(
        _ connection: PostgresConnection, spec: IPCSpec, phase: String, reference: String, since: Double?,
        settings: Comparability.Settings = .init()
    ) throws -> ComparisonReport {
        guard let limits = spec.phase(phase) else {
            throw SpecRegister.Refusal(description: "the spec has no phase '\(phase)' (it has: \(spec.phases.map(\.phase).joined(separator: ", ")))")
        }
        let parameters = limits.limits.map(\.parameterId)
        // Each device's part of each batch that ran the spec in the phase, summed up whole by the
        // rule of the site's record (`BatchStatistics`) and read for this phase.
        let runs = try connection.execute("""
            SELECT site, batch, device, extract(epoch FROM min(first_time))::float8, extract(epoch FROM max(last_time))::float8
            FROM batch_runs
            WHERE spec = $1 AND phase = $2
            GROUP BY site, batch, device
            HAVING ($3::float8 IS NULL OR max(last_time) >= to_timestamp($3::float8))
            ORDER BY site, batch, device
            """, [spec.fingerprint, phase, since.map { String($0) }])
        var readerLimits = BatchSeriesReader.Limits()
        readerLimits.onlyParameters = Set(parameters)
        var batches: [Batch] = []
        for r in 0..<runs.rowCount {
            guard let site = runs.string(r, 0), let batch = runs.string(r, 1), let device = runs.string(r, 2) else { continue }
            let held = try BatchSeriesReader.load(
                connection, site: site, batch: batch, device: device, specs: { $0 == spec.fingerprint ? spec : nil }, limits: readerLimits
            ).first
            let summaries = held?.summary.phase(phase)
            batches.append(Batch(
                site: site, batch: batch, device: device, first: runs.double(r, 3) ?? 0, last: runs.double(r, 4) ?? 0,
                parameters: parameters.map { id in summaries?.parameter(id).map(BatchParameterSummary.init) ?? .init(unmonitored: id) }))
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
