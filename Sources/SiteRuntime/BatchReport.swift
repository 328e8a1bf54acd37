import ControlAPI
import ControlSiteLink
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
    func batchReport(_ request: ControlRequest) async -> ControlResponse {
        guard let batchId = request.arguments["batch"] else { return .failure(id: nil, .badRequest, "give the batch id") }
        let path = store.settings.path, devices = site.devices, specs = knownSpecs
        return await offPool { Self.batchReport(batchId: batchId, storePath: path, devices: devices, specs: specs) }
    }

    static func batchReport(batchId: String, storePath: String, devices: [DeviceConfig], specs: [String: IPCSpec]) -> ControlResponse {
        guard let reader = try? StoreReader(path: storePath), let batches = try? reader.batches() else {
            return .failure(id: nil, .failed, "store not readable")
        }
        guard let record = batches.last(where: { $0.batch == batchId }) else {
            return .failure(id: nil, .refused, "no batch '\(batchId)' in the store")
        }
        let spec = specs[record.spec]
        let interval = devices.first { $0.id == record.device }.map {
            Double($0.pollInterval.components.seconds) + Double($0.pollInterval.components.attoseconds) / 1e18
        } ?? 1
        let gapThreshold = max(3 * interval, 2)

        // Walk the device's samples of this batch in sequence order, a page at a time.
        var aggregates: [String: [String: Aggregate]] = [:]
        var phaseOrder: [String] = []
        var gaps: [[String: Any]] = []
        var badReadings = 0
        var samples = 0
        var previous: StoredSample?
        var after: Int64 = 0
        let stream = StreamName.telemetry(record.device)
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
                        gaps.append(["from": Contract.format(previous.time), "to": Contract.format(sample.time), "duration_s": step])
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
        let phases: [[String: Any]] = phaseOrder.map { phase in
            let rows: [[String: Any]] = (aggregates[phase] ?? [:]).filter { !states.contains($0.key) }.sorted { $0.key < $1.key }.map { parameter, a in
                var row: [String: Any] = [
                    "parameter": parameter, "unit": units[parameter] ?? "", "samples": a.count,
                    "min": a.minimum, "max": a.maximum, "mean": a.sum / Double(max(a.count, 1)),
                ]
                if a.total > 0 {
                    row["in_range_s"] = a.inRange
                    row["evaluated_s"] = a.total
                    row["in_range_pct"] = a.inRange / a.total * 100
                }
                return row
            }
            return ["phase": phase, "parameters": rows]
        }

        // Excursions and alarms, with who acknowledged them and why.
        let events = (try? reader.events(batch: batchId)) ?? []
        func body(_ event: StoredEvent) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(event.body.utf8)) as? [String: Any]) ?? [:]
        }
        let excursions: [[String: Any]] = events.filter { $0.kind == "excursion" }.compactMap { body($0)["excursion"] as? [String: Any] }
        var alarms: [[String: Any]] = []
        for event in events where ["raised", "escalated", "communication_lost"].contains(event.kind) {
            let b = body(event)
            var row: [String: Any] = [
                "alarm": event.alarm ?? "", "kind": event.kind, "time": Contract.format(event.time),
                "level": b["level"] ?? NSNull(), "value": b["value"] ?? NSNull(), "limit": b["limit"] ?? NSNull(),
                "phase": event.phase ?? NSNull(),
            ]
            if let ack = events.first(where: { $0.kind == "acknowledged" && $0.alarm == event.alarm && $0.time >= event.time }) {
                let a = body(ack)
                row["acknowledged_by"] = a["user"] ?? NSNull()
                row["acknowledged_at"] = Contract.format(ack.time)
                row["reason"] = a["reason"] ?? NSNull()
            }
            alarms.append(row)
        }
        let result: [String: Any] = [
            "batch": batchId, "device": record.device, "spec": record.spec,
            "spec_document": spec.map { "\($0.identity.documentId) version \($0.identity.version)" } ?? NSNull(),
            "started": Contract.format(record.started), "ended": record.ended.map(Contract.format) ?? NSNull(),
            "samples": samples, "bad_readings": badReadings, "phases": phases, "excursions": excursions, "alarms": alarms,
            "gaps": gaps,
        ]
        return .success(id: nil, result: SiteDaemon.json(result))
    }
}

