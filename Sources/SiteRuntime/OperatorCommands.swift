import Acquisition
import ControlAPI
import ControlSiteLink
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteStore

/// The operators' commands, run on the pipeline task. Every state-changing command is checked,
/// then audited with the peer's Unix user, and only then applied: no record, no effect.
extension SiteDaemon {
    func json(_ object: Any) -> String { Self.json(object) }

    static func json(_ object: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    func now() -> Timestamp { Timestamp(wall: Date(), monotonic: MonotonicClock.now()) }

    func requireReason(_ request: ControlRequest) -> String? {
        let reason = request.arguments["reason"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return reason.isEmpty ? nil : reason
    }

    func devicesResult() -> ControlResponse {
        let rows: [[String: Any]] = site.devices.map { device in
            let stats = parts.pollers.first { $0.settings.deviceId == device.id }?.statistics
            let batch = engine.batch(of: device.id)
            return [
                "id": device.id, "profile": device.profile.id, "endpoint": "\(device.host):\(device.port)",
                "unit_id": device.unitId, "poll_interval_s": Double(device.pollInterval.components.seconds)
                    + Double(device.pollInterval.components.attoseconds) / 1e18,
                "connected": stats?.connected ?? false, "cycles": stats?.cycles ?? 0, "missed_cycles": stats?.missedCycles ?? 0,
                "batch": batch?.batchId ?? NSNull(), "phase": batch?.phase ?? NSNull(),
            ]
        }
        return .success(id: nil, result: json(["devices": rows]))
    }

    func valuesResult(_ request: ControlRequest) -> ControlResponse {
        guard let id = request.arguments["device"], let device = site.devices.first(where: { $0.id == id }) else {
            return .failure(id: nil, .badRequest, "unknown device '\(request.arguments["device"] ?? "")'; devices: \(site.devices.map(\.id).joined(separator: ", "))")
        }
        let batch = engine.batch(of: id)
        let limits = batch.flatMap { $0.spec.phase($0.phase) }
        guard let sample = pipeline.latest[id] else {
            return .success(id: nil, result: json(["device": id, "time": NSNull(), "values": [] as [Any]]))
        }
        let rows: [[String: Any]] = device.profile.parameters.enumerated().map { index, parameter in
            let reading = index < sample.readings.count ? sample.readings[index] : nil
            var row: [String: Any] = [
                "parameter": parameter.id, "name": parameter.name, "unit": parameter.unit,
                "quality": reading?.quality.rawValue ?? "bad_communication",
            ]
            switch reading?.value {
            case .number(let v)?: row["value"] = v
            case .flag(let b)?: row["value"] = b
            case .text(let t)?: row["value"] = t
            case nil: row["value"] = NSNull()
            }
            if let label = reading?.label { row["label"] = label }
            if let l = limits?.limits(for: parameter.id) {
                row["limits"] = [
                    "alert_low": l.alertLow ?? NSNull(), "alert_high": l.alertHigh ?? NSNull(),
                    "action_low": l.actionLow ?? NSNull(), "action_high": l.actionHigh ?? NSNull(), "target": l.target ?? NSNull(),
                ] as [String: Any]
            }
            return row
        }
        return .success(id: nil, result: json([
            "device": id, "time": Contract.format(sample.time), "batch": batch?.batchId ?? NSNull(), "phase": batch?.phase ?? NSNull(),
            "spec": batch?.spec.fingerprint ?? NSNull(), "values": rows,
        ]))
    }

    func alarmsResult(_ request: ControlRequest) async -> ControlResponse {
        if request.arguments["history"] == "true" {
            let path = store.settings.path
            let ids = site.devices.map(\.id).filter { id in request.arguments["device"].map { $0 == id } ?? true }
            let limit = Int(request.arguments["limit"] ?? "") ?? 200
            return await offPool { Self.alarmHistory(storePath: path, devices: ids, limit: limit) }
        }
        let rows: [[String: Any]] = engine.alarms().map { alarm in
            [
                "alarm": alarm.id.description, "state": alarm.state.rawValue, "level": alarm.level.description,
                "side": alarm.side.rawValue, "priority": alarm.priority.rawValue,
                "since": alarm.activeSince.map(Contract.format) ?? NSNull(),
                "shelved_until": alarm.shelvedUntil.map(Contract.format) ?? NSNull(), "value": alarm.lastValue ?? NSNull(),
            ]
        }
        return .success(id: nil, result: json(["alarms": rows]))
    }

    /// Acknowledge, shelve, unshelve: check, audit with the peer, apply.
    func alarmAction(_ request: ControlRequest, peer: ControlPeer) async -> ControlResponse {
        guard let text = request.arguments["alarm"], let alarm = AlarmID(text) else {
            return .failure(id: nil, .badRequest, "give the alarm as device/parameter/kind or device/communication")
        }
        guard let reason = requireReason(request) else { return .failure(id: nil, .refused, "a reason is required (--reason)") }
        let current = engine.alarms().first { $0.id == alarm }
        var duration: Duration?
        switch request.command {
        case "ack":
            guard let current, current.state == .unacknowledged || current.state == .returnedUnacknowledged else {
                return .failure(id: nil, .refused, "alarm \(alarm) has nothing to acknowledge (state \(current?.state.rawValue ?? "normal"))")
            }
        case "shelve":
            guard let text = request.arguments["for"], let d = parseDuration(text), d >= .seconds(1), d <= .seconds(86_400) else {
                return .failure(id: nil, .badRequest, "give how long with --for, between 1s and 24h (e.g. 30m)")
            }
            guard engine.isKnown(alarm) else { return .failure(id: nil, .refused, "unknown alarm \(alarm)") }
            duration = d
        default:  // unshelve
            guard current?.state == .shelved else { return .failure(id: nil, .refused, "alarm \(alarm) is not shelved") }
        }
        let action = "alarm.\(request.command == "ack" ? "acknowledge" : request.command)"
        do {
            _ = try await store.audit(AuditAction(
                user: peer.user, action: action, target: alarm.description, reason: reason,
                oldValue: current?.state.rawValue ?? "normal", newValue: duration.map { "for \($0)" }))
            let events: [ControlEvent]
            switch request.command {
            case "ack": events = try engine.acknowledge(alarm, user: peer.user, reason: reason, at: now())
            case "shelve": events = try engine.shelve(alarm, for: duration!, user: peer.user, reason: reason, at: now())
            default: events = try engine.unshelve(alarm, user: peer.user, reason: reason, at: now())
            }
            pipeline.record(events)
            return .success(id: nil, result: json(["alarm": alarm.description, "state": engine.alarms().first { $0.id == alarm }?.state.rawValue ?? "normal", "user": peer.user]))
        } catch {
            return .failure(id: nil, .failed, "\(error)")
        }
    }

    /// Batch start, phase and end: check, audit with the peer, apply.
    func batchAction(_ request: ControlRequest, peer: ControlPeer) async -> ControlResponse {
        guard let device = request.arguments["device"], site.devices.contains(where: { $0.id == device }) else {
            return .failure(id: nil, .badRequest, "unknown device '\(request.arguments["device"] ?? "")'")
        }
        let running = engine.batch(of: device)
        do {
            switch request.command {
            case "batch.start":
                guard let batchId = request.arguments["batch"], !batchId.isEmpty else { return .failure(id: nil, .badRequest, "give --batch ID") }
                if let running { return .failure(id: nil, .refused, "device \(device) runs batch \(running.batchId); end it first") }
                guard let specRef = request.arguments["spec"], let spec = resolveSpec(specRef) else {
                    return .failure(id: nil, .refused, "spec '\(request.arguments["spec"] ?? "")' is neither a valid spec file nor a known fingerprint: \(specErrors(request.arguments["spec"]))")
                }
                let profile = site.devices.first { $0.id == device }!.profile.id
                guard spec.identity.profiles.contains(profile) else {
                    return .failure(id: nil, .refused, "spec \(spec.identity.documentId) does not name profile '\(profile)'")
                }
                let phase = request.arguments["phase"]
                if let phase, spec.phase(phase) == nil {
                    return .failure(id: nil, .refused, "phase '\(phase)' is not in the spec (\(spec.phases.map(\.phase).joined(separator: ", ")))")
                }
                _ = try await store.audit(AuditAction(
                    user: peer.user, action: "batch.start", target: device, reason: request.arguments["reason"],
                    newValue: "batch=\(batchId) spec=\(spec.fingerprint) phase=\(phase ?? "first")"))
                knownSpecs[spec.fingerprint] = spec
                pipeline.record(try engine.startBatch(
                    device: device, batchId: batchId, spec: spec, phase: phase,
                    followDevicePhase: request.arguments["follow_device_phase"] == "true", at: now()))
            case "batch.phase":
                guard let running else { return .failure(id: nil, .refused, "device \(device) runs no batch") }
                guard let phase = request.arguments["phase"], running.spec.phase(phase) != nil else {
                    return .failure(id: nil, .refused, "phase '\(request.arguments["phase"] ?? "")' is not in the spec (\(running.spec.phases.map(\.phase).joined(separator: ", ")))")
                }
                _ = try await store.audit(AuditAction(
                    user: peer.user, action: "batch.phase", target: device, reason: request.arguments["reason"],
                    oldValue: running.phase, newValue: phase))
                pipeline.record(try engine.changePhase(device: device, to: phase, user: peer.user, at: now()))
            default:  // batch.end
                guard let running else { return .failure(id: nil, .refused, "device \(device) runs no batch") }
                _ = try await store.audit(AuditAction(
                    user: peer.user, action: "batch.end", target: device, reason: request.arguments["reason"],
                    oldValue: "batch=\(running.batchId)"))
                pipeline.record(try engine.endBatch(device: device, user: peer.user, at: now()))
            }
        } catch {
            return .failure(id: nil, .failed, "\(error)")
        }
        let batch = engine.batch(of: device)
        return .success(id: nil, result: json([
            "device": device, "batch": batch?.batchId ?? NSNull(), "phase": batch?.phase ?? NSNull(),
            "spec": batch?.spec.fingerprint ?? NSNull(), "user": peer.user,
        ]))
    }

    func resolveSpec(_ reference: String) -> IPCSpec? {
        if let known = knownSpecs[reference] ?? knownSpecs.values.first(where: { $0.fingerprint.hasSuffix(reference) || $0.shortFingerprint == reference }) {
            return known
        }
        return SpecLoader.load(path: reference, profiles: profileCatalogue()).spec
    }

    func specErrors(_ reference: String?) -> String {
        guard let reference, FileManager.default.fileExists(atPath: reference) else { return "no such file or fingerprint" }
        return SpecLoader.load(path: reference, profiles: profileCatalogue()).diagnostics.map(\.description).joined(separator: "; ")
    }

    func profileCatalogue() -> [String: DeviceProfile] {
        Dictionary(site.devices.map { ($0.profile.id, $0.profile) }, uniquingKeysWith: { a, _ in a })
    }

    func batchList() async -> ControlResponse {
        let path = store.settings.path
        return await offPool { Self.batchList(storePath: path) }
    }

    func auditResult(_ request: ControlRequest) async -> ControlResponse {
        let path = store.settings.path
        if request.command == "audit.verify" {
            return await offPool {
                guard let reader = try? StoreReader(path: path), let result = try? AuditSummary.verification(reader) else {
                    return .failure(id: nil, .failed, "the audit trail could not be read")
                }
                return .success(id: nil, result: Self.json(result))
            }
        }
        let a = request.arguments
        func time(_ key: String) -> Date? {
            a[key].flatMap { try? Date($0, strategy: .iso8601) ?? Date($0 + "T00:00:00Z", strategy: .iso8601) }
        }
        let filter = StoreReader.AuditFilter(
            user: a["user"], action: a["action"], since: time("since"), until: time("until"), limit: a["last"].flatMap { Int($0) })
        return await offPool {
            guard let reader = try? StoreReader(path: path), let entries = try? AuditSummary.entries(reader, filter) else {
                return .failure(id: nil, .failed, "the audit trail could not be read")
            }
            return .success(id: nil, result: Self.json(["entries": entries]))
        }
    }

    static func alarmHistory(storePath: String, devices: [String], limit: Int) -> ControlResponse {
        guard let reader = try? StoreReader(path: storePath) else { return .failure(id: nil, .failed, "store not readable") }
        var rows: [[String: Any]] = []
        for device in devices {
            let events = (try? reader.events(stream: StreamName.events(device), after: 0, limit: 1_000_000)) ?? []
            for event in events where event.alarm != nil {
                rows.append(["time": Contract.format(event.time), "device": event.device, "kind": event.kind,
                             "alarm": event.alarm ?? "", "event": (try? JSONSerialization.jsonObject(with: Data(event.body.utf8))) ?? [:]])
            }
        }
        rows.sort { ($0["time"] as? String ?? "") < ($1["time"] as? String ?? "") }
        return .success(id: nil, result: json(["history": Array(rows.suffix(limit))]))
    }

    static func batchList(storePath: String) -> ControlResponse {
        guard let reader = try? StoreReader(path: storePath), let batches = try? reader.batches() else {
            return .failure(id: nil, .failed, "store not readable")
        }
        let rows: [[String: Any]] = batches.map {
            ["device": $0.device, "batch": $0.batch, "spec": $0.spec, "started": Contract.format($0.started),
             "ended": $0.ended.map(Contract.format) ?? NSNull()]
        }
        return .success(id: nil, result: json(["batches": rows]))
    }
}
