import POCareCore
import Yams

extension SpecLoader {
    static let alignmentKeys = ["align_by", "bucket", "from"]

    /// `comparability:` maps a phase of the spec to the progress variable the Control Site's
    /// comparison aligns that phase's trajectories by: `{ align_by: PARAMETER, bucket: WIDTH,
    /// from: ORIGIN }`. The phase must be one the spec defines; the parameter must be a numeric
    /// measurement (not a flag or a status) of every named profile that has it, and of at least
    /// one; the bucket a finite width above 0 in the parameter's unit; `from` (default 0) a
    /// finite number.
    static func parseComparability(
        _ top: MappingReader, phases: [PhaseLimits], profiles: [DeviceProfile], collector: DiagnosticCollector
    ) -> [SpecAlignment] {
        guard let section = top.mappingReader("comparability") else { return [] }
        var alignments: [SpecAlignment] = []
        for (key, value) in section.mapping {
            let phase = key.scalar?.string ?? ""
            let path = "comparability.\(phase)"
            if !phases.contains(where: { $0.phase == phase }) {
                collector.error(path, at: key.mark, "phase '\(phase)' is not a phase of this spec (phases: \(phases.map(\.phase).joined(separator: ", ")))")
            }
            guard let reader = MappingReader(value, path: path, collector: collector) else { continue }
            reader.rejectUnknownKeys(allowed: alignmentKeys)
            let parameter = reader.string("align_by", required: true)
            let bucket = reader.double("bucket", required: true)
            let from = reader.double("from") ?? 0
            if let bucket, !(bucket > 0) {
                collector.error("\(path).bucket", "bucket must be above 0 (the width of one bucket, in the unit of '\(parameter ?? "")')")
            }
            if let parameter {
                checkProgressVariable(parameter, profiles: profiles, path: "\(path).align_by", collector: collector)
            }
            if let parameter, let bucket, bucket > 0 {
                alignments.append(SpecAlignment(phase: phase, parameterId: parameter, bucket: bucket, from: from))
            }
        }
        return alignments.sorted { $0.phase < $1.phase }
    }

    /// A progress variable is a numeric measurement in the profiles: a flag, a status or text has no progress.
    private static func checkProgressVariable(_ parameter: String, profiles: [DeviceProfile], path: String, collector: DiagnosticCollector) {
        let matches = profiles.compactMap { p in p.parameter(parameter).map { (p, $0) } }
        if matches.isEmpty && !profiles.isEmpty {
            collector.error(path, "no profile named by the spec has a parameter '\(parameter)' (profiles: \(profiles.map(\.id).joined(separator: ", ")))")
        }
        for (profile, p) in matches where !p.dataType.isNumeric || p.enumeration != nil {
            collector.error(path, "'\(parameter)' in '\(profile.id)' is not a numeric measurement; a progress variable is a number that grows (cell density, volume fed)")
        }
    }
}
