import ControlAPI
import InProcessControl
import Foundation
import POCareCore
import SiteStore

/// The batch IPC record for QP review, built from the store: per phase and parameter the
/// minimum, maximum, mean and time in range; every excursion; every alarm with who
/// acknowledged it and why; the spec fingerprint; and the gaps in the data.
extension SiteDaemon {
    struct Aggregate {
        var count = 0
        var sum = 0.0
        var minimum = Double.infinity
        var maximum = -Double.infinity
        var inRange = 0.0
        var total = 0.0
    }

    /// Reads the store on a dispatch thread: a long batch must not hold one of Swift's few cooperative threads.
    func batchReport(_ batchId: String) async throws(ControlResponse.Failure) -> ControlAPI.BatchReport {
        let path = store.settings.path, devices = site.devices, specs = knownSpecs
        return try await offPool { () throws(ControlResponse.Failure) in
            try Self.batchReport(batchId: batchId, storePath: path, devices: devices, specs: specs)
        }
    }

    static func batchReport(
        batchId: String, storePath: String, devices: [DeviceConfig], specs: [String: IPCSpec]
    ) throws(ControlResponse.Failure) -> ControlAPI.BatchReport {
        guard let reader = try? StoreReader(path: storePath), let batches = try? reader.batches() else {
            throw .init(code: .failed, message: "store not readable")
        }
        guard let record = batches.last(where: { $0.batch == batchId }) else {
            throw .init(code: .refused, message: "no batch '\(batchId)' in the store")
        }
        let spec = specs[record.spec]
        let interval = devices.first { $0.id == record.device }.map { Double($0.pollInterval.nanoseconds) / 1e9 } ?? 1
        let gapThreshold = max(3 * interval, 2)

        // Walk the device's samples of this batch in sequence order, a page at a time.
        var aggregates: [String: [String: Aggregate]] = [:]
        var phaseOrder: [String] = []
        var gaps: [ControlAPI.BatchReport.Gap] = []
        var badReadings = 0
        var samples = 0
        var previous: StoredSample?
        var after: Int64 = 0
        let stream = StreamName.telemetry(device: record.device)
        while let page = try? reader.samples(stream: stream, after: after, limit: 5000), let last = page.last {
            after = last.seq
            for sample in page where sample.context.batchId == batchId {
                samples += 1
                let phase = sample.context.phase ?? "-"
                if !phaseOrder.contains(phase) { phaseOrder.append(phase) }
                var dt = 0.0
                if let previous {
                    let step = sample.time.timeIntervalSince(previous.time)
                    if step > gapThreshold {
                        gaps.append(.init(from: UTCTime.format(previous.time), to: UTCTime.format(sample.time), durationS: step))
                    }
                    dt = min(step, gapThreshold)
                }
                let limits = spec?.phase(phase)
                for reading in sample.readings {
                    if reading.quality != .good { badReadings += 1 }
                    guard reading.quality == .good, case .number(let v)? = reading.value else { continue }
                    var a = aggregates[phase, default: [:]][reading.parameterId, default: Aggregate()]
                    a.count += 1
                    a.sum += v
                    a.minimum = min(a.minimum, v)
                    a.maximum = max(a.maximum, v)
                    if let l = limits?.limits(for: reading.parameterId) {
                        let low = l.alertLow ?? l.actionLow ?? -.infinity
                        let high = l.alertHigh ?? l.actionHigh ?? .infinity
                        a.total += dt
                        if v >= low && v <= high { a.inRange += dt }
                    }
                    aggregates[phase, default: [:]][reading.parameterId] = a
                }
                previous = sample
            }
        }

        let parameters = devices.first { $0.id == record.device }?.profile.parameters ?? []
        let units = Dictionary(parameters.map { ($0.id, $0.unit) }, uniquingKeysWith: { a, _ in a })
        // States (status and phase codes) are not measurements: no statistics for them.
        let states = Set(parameters.filter { $0.enumeration != nil }.map(\.id))
        let phases = phaseOrder.map { phase in
            let rows = (aggregates[phase] ?? [:]).filter { !states.contains($0.key) }.sorted { $0.key < $1.key }.map { parameter, a in
                ControlAPI.BatchReport.ParameterSummary(
                    parameter: parameter, unit: units[parameter] ?? "", samples: a.count, min: a.minimum, max: a.maximum,
                    mean: a.sum / Double(max(a.count, 1)), inRangeS: a.total > 0 ? a.inRange : nil, evaluatedS: a.total > 0 ? a.total : nil,
                    inRangePct: a.total > 0 ? a.inRange / a.total * 100 : nil)
            }
            return ControlAPI.BatchReport.Phase(phase: phase, parameters: rows)
        }

        // Excursions and alarms, with who acknowledged them and why, from the stored events.
        let events = ((try? reader.events(batch: batchId)) ?? []).map { (stored: $0, event: ControlEvent.stored($0.body)) }
        let excursions = events.compactMap { $0.event?.excursion }.map { e in
            ControlAPI.BatchReport.Excursion(
                alarm: e.alarm.description, phase: e.phase, start: UTCTime.format(e.start), end: UTCTime.format(e.end),
                durationS: Double(e.duration.nanoseconds) / 1e9, worstValue: e.worstValue, worstLevel: e.worstLevel.description,
                side: e.side.rawValue, areaOutside: e.areaOutside)
        }
        var alarms: [ControlAPI.BatchReport.Alarm] = []
        for (stored, event) in events where [.raised, .escalated, .communicationLost].contains(event?.kind) {
            var row = ControlAPI.BatchReport.Alarm(
                alarm: stored.alarm ?? "", kind: stored.kind, time: UTCTime.format(stored.time), level: event?.level?.description,
                value: event?.value, limit: event?.limit, phase: stored.phase)
            if let ack = events.first(where: { $0.event?.kind == .acknowledged && $0.stored.alarm == stored.alarm && $0.stored.time >= stored.time }) {
                row.acknowledgedBy = ack.event?.user
                row.acknowledgedAt = UTCTime.format(ack.stored.time)
                row.reason = ack.event?.reason
            }
            alarms.append(row)
        }
        return ControlAPI.BatchReport(
            batch: batchId, device: record.device, spec: record.spec,
            specDocument: spec.map { "\($0.identity.documentId) version \($0.identity.version)" },
            started: UTCTime.format(record.started), ended: record.ended.map(UTCTime.format), samples: samples,
            badReadings: badReadings, phases: phases, excursions: excursions, alarms: alarms, gaps: gaps)
    }
}
