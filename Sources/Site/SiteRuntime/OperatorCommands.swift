import Acquisition
import ControlAPI
import ControlSiteLink
import POCareContract
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteStore
import StoreReports

/// The operators' commands, run on the pipeline task. Every state-changing command is checked,
/// then audited with the peer's Unix user, and only then applied: no record, no effect.
extension SiteDaemon {
    /// Answers an operator's request. Runs on the pipeline task, so it sees the engine's state
    /// between two samples.
    public func handle(_ request: ControlRequest, from connected: ControlPeer) async -> ControlResponse {
        var response: ControlResponse
        do throws(ControlResponse.Failure) {
            let peer = try person(acting: connected, request)
            if request.command.changesState { try await checkPersonnel(peer, request.command) }
            let result: ControlResult = switch request.command {
            case .status: .status(await status())
            case .reload(let reason): .reload(try await reload(user: peer.user, reason: reason ?? "pocarectl reload").get())
            case .devices: .devices(devices())
            case .values(let device): .values(try values(of: device))
            case .alarms(let query): try await alarms(query)
            case .acknowledge(let action): .alarmAction(try await acknowledge(action, by: peer))
            case .shelve(let action): .alarmAction(try await shelve(action, by: peer))
            case .unshelve(let action): .alarmAction(try await unshelve(action, by: peer))
            case .reset(let action): .alarmAction(try await reset(action, by: peer))
            case .outOfService(let action): .alarmAction(try await takeOutOfService(action, by: peer))
            case .inService(let action): .alarmAction(try await returnToService(action, by: peer))
            case .batchStart(let start): .batch(try await startBatch(start, by: peer))
            case .batchPhase(let change): .batch(try await changePhase(change, by: peer))
            case .batchEnd(let end): .batch(try await endBatch(end, by: peer))
            case .batchList: .batchList(try await batchList())
            case .batchReport(let batch, let device): .batchReport(try await completeBatchReport(batch, device: device))
            case .batchPublish(let batch, let device): .batchReport(try await publishBatchRecord(batch, device: device, by: peer))
            case .auditVerify: .auditVerification(try await auditVerification())
            case .verify: .verification(try await verification())
            case .auditShow(let query): .auditEntries(try await auditEntries(query))
            case .specs: .specs(specRegisterList())
            }
            // What a person did is on disk before they are told it is done: a kill -9 right
            // after the answer loses nothing of it.
            if request.command.changesState { await store.flush() }
            response = .success(id: request.id, result)
        } catch {
            response = .failure(id: request.id, error.code, error.message)
        }
        return response
    }

    func now() -> Timestamp { Timestamp(wall: Date(), monotonic: MonotonicClock.now()) }

    /// Who acts: the socket peer's account, or for a root client the person it names
    /// (`--user`), which `control.require_user` makes a must for state-changing commands.
    func person(acting peer: ControlPeer, _ request: ControlRequest) throws(ControlResponse.Failure) -> ControlPeer {
        guard let named = request.user?.trimmingCharacters(in: .whitespaces), !named.isEmpty else {
            if peer.uid == 0, site.control.requireUserForRoot, request.command.changesState {
                throw .init(code: .refused, message: "pocarectl runs as root here: name the person you act for with --user NAME (control.require_user)")
            }
            return peer
        }
        guard named.count <= 64, named.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
            throw .init(code: .badRequest, message: "--user: a user name of letters, digits, '.', '_' or '-', at most 64")
        }
        guard peer.uid == 0 || named == peer.user else {
            throw .init(code: .refused, message: "--user is for a client running as root; you act as '\(peer.user)'")
        }
        return ControlPeer(uid: peer.uid, pid: peer.pid, user: named)
    }

    /// The Control Site's personnel register decides who acts: someone it does not list, or
    /// whose training expired, is refused (audited as `personnel.refused`), unless the site's
    /// configuration lets them through (`personnel.allow_unregistered`), when the action is
    /// audited as a `personnel.exception` first: a deviation the Control Site opens.
    func checkPersonnel(_ peer: ControlPeer, _ command: ControlCommand) async throws(ControlResponse.Failure) {
        let personnel = TrainedPersonnel(registers[PersonnelRegister.kind]?.register)
        guard let why = personnel.refusal(account: peer.user, day: TrainedPersonnel.today()) else { return }
        let action = "\(command)".prefix { $0 != "(" }
        if site.allowUnregisteredOperators {
            try await audit(AuditAction(user: peer.user, action: "personnel.exception", target: String(action),
                                        reason: why + "; allowed by personnel.allow_unregistered"))
            return
        }
        // The refusal stands whether or not its audit entry is written: nothing was applied.
        _ = try? await store.audit(AuditAction(user: peer.user, action: "personnel.refused", target: String(action), reason: why))
        throw .init(code: .refused, message: "refused: \(why) (the site's personnel.allow_unregistered lets such actions through as deviations)")
    }

    func requireReason(_ text: String?) throws(ControlResponse.Failure) -> String {
        let reason = text?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !reason.isEmpty else { throw .init(code: .refused, message: "a reason is required (--reason)") }
        return reason
    }

    func device(_ id: String) throws(ControlResponse.Failure) -> DeviceConfig {
        guard let device = site.devices.first(where: { $0.id == id }) else {
            throw .init(code: .badRequest, message: "unknown device '\(id)'; devices: \(site.devices.map(\.id).joined(separator: ", "))")
        }
        return device
    }

    /// Writes the audit entry an action needs before it takes effect.
    func audit(_ action: AuditAction) async throws(ControlResponse.Failure) {
        do {
            _ = try await store.audit(action)
        } catch {
            throw .init(code: .failed, message: "not applied: the audit entry could not be written (\(error))")
        }
    }

    func apply(_ change: () throws -> [ControlEvent]) throws(ControlResponse.Failure) {
        do {
            pipeline.record(try change())
        } catch {
            throw .init(code: .failed, message: "\(error)")
        }
    }

    func status() async -> StatusReport {
        let now = MonotonicClock.now()
        let health = store.health
        let path = store.settings.path
        // The size is for the operator's eye only; a file that cannot be examined shows 0.
        let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.int64Value ?? 0
        let alarms = engine.alarms()
        let devices = parts.pollers.map { poller -> StatusReport.Device in
            let stats = poller.statistics
            let id = poller.settings.deviceId
            let batch = engine.batch(of: id)
            var device = StatusReport.Device(
                id: id, profile: poller.settings.profile.id, connected: stats.connected,
                lastGoodPollS: stats.lastGoodCycle.map { (Double(now - $0) / 1e8).rounded() / 10 },
                missedCycles: stats.missedCycles, activeAlarms: alarms.filter { $0.id.device == id && $0.isActive }.count,
                batch: batch?.batchId, phase: batch?.phase, spec: batch?.spec.fingerprint,
                outOfService: engine.outOfService().first { $0.target == .device(id) }.map(OutOfServiceItem.init))
            if let communication = engine.communication(of: id) {
                device.communication = communication.lost ? "lost" : "ok"
                device.missedPolls = communication.missedPolls
                device.communicationLostSince = communication.since.map(UTCTime.format)
            }
            if let batch { device.phaseFromDevice = batch.phaseSource != .manual }
            device.configuredBatch = configured[id]?.status
            return device
        }
        let link = parts.link.map { link in
            let s = link.statistics
            return StatusReport.ControlSiteLink(
                connected: s.connected, backlog: s.backlog, lastDelivery: s.lastDelivery.map(UTCTime.format), lastError: s.lastError)
        }
        let unacknowledged = alarms.filter { $0.unacknowledged && $0.state != .outOfService && $0.state != .shelved }.count
        let oldest = await offPool { Self.oldestUndelivered(storePath: path) }
        var report = StatusReport(
            version: POCareVersion.current, site: site.siteId, uptimeS: Int(Date().timeIntervalSince(started)),
            store: .init(
                path: path, sizeBytes: size, freeBytes: SiteStore.freeBytes(at: path), pendingRows: health.pendingRows,
                committedRows: Int(clamping: health.committedRows), healthy: store.isHealthy(),
                oldestUndelivered: oldest.map(UTCTime.format), epoch: store.epoch, fileProblem: health.fileProblem?.description),
            specs: Set(site.devices.compactMap { engine.batch(of: $0.id)?.spec.fingerprint }).sorted(),
            controlSite: link,
            alarms: .init(active: alarms.filter { $0.isActive }.count, unacknowledged: unacknowledged),
            devices: devices, outOfService: engine.outOfService().map(OutOfServiceItem.init))
        report.specRegister = registerVersion(ReleasedSpecEntry.kind)
        report.requireSpecRelease = site.requireSpecRelease
        report.personnelRegister = registerVersion(PersonnelRegister.kind)
        report.personnelListed = report.personnelRegister.map { _ in TrainedPersonnel(registers[PersonnelRegister.kind]?.register).people.count }
        report.allowUnregisteredOperators = site.allowUnregisteredOperators
        report.requireUserForRoot = site.control.requireUserForRoot
        return report
    }

    /// The oldest record the Control Site does not have yet: how far behind the site is.
    /// Status only: what cannot be read leaves the age unknown (nil), and the store's own alarm
    /// says why.
    static func oldestUndelivered(storePath: String) -> Date? {
        guard let reader = try? StoreReader(path: storePath), let streams = try? reader.streams() else { return nil }
        var oldest: Date?
        for state in streams where state.deliveredSeq < state.lastSeq {
            let time: Date? = switch state.stream {
            case .telemetry: (try? reader.samples(stream: state.stream, after: state.deliveredSeq, limit: 1))?.first?.time
            case .audit: (try? reader.auditEntries(after: state.deliveredSeq, limit: 1))?.first?.time
            case .events, .siteEvents: (try? reader.events(stream: state.stream, after: state.deliveredSeq, limit: 1))?.first?.time
            }
            if let time, oldest.map({ time < $0 }) ?? true { oldest = time }
        }
        return oldest
    }

    func devices() -> DeviceList {
        DeviceList(devices: site.devices.map { device in
            let stats = parts.pollers.first { $0.settings.deviceId == device.id }?.statistics
            let batch = engine.batch(of: device.id)
            return DeviceList.Device(
                id: device.id, profile: device.profile.id, endpoint: "\(device.host):\(device.port)", unitId: device.unitId,
                pollIntervalS: Double(device.pollInterval.nanoseconds) / 1e9, connected: stats?.connected ?? false,
                cycles: stats?.cycles ?? 0, missedCycles: stats?.missedCycles ?? 0, batch: batch?.batchId, phase: batch?.phase)
        })
    }

    func values(of id: String) throws(ControlResponse.Failure) -> DeviceValues {
        let device = try device(id)
        let batch = engine.batch(of: id)
        let limits = batch.flatMap { $0.spec.phase($0.phase) }
        guard let sample = pipeline.latest[id] else {
            return DeviceValues(device: id, time: nil, batch: batch?.batchId, phase: batch?.phase, spec: batch?.spec.fingerprint, values: [])
        }
        let rows = device.profile.parameters.enumerated().map { index, parameter in
            let reading = index < sample.readings.count ? sample.readings[index] : nil
            let value: ParameterValue? = switch reading?.value {
            case .number(let v)?: .number(v)
            case .flag(let b)?: .flag(b)
            case .text(let t)?: .text(t)
            case nil: nil
            }
            return DeviceValues.Row(
                parameter: parameter.id, name: parameter.name, unit: parameter.unit,
                quality: (reading?.quality ?? .badCommunication).rawValue, value: value, label: reading?.label,
                limits: limits?.limits(for: parameter.id).map { l in
                    var alarmWhen: Bool?
                    var alarmLabels: [String]?
                    switch l.discrete {
                    case .flag(let when)?: alarmWhen = when
                    case .labels(let labels)?: alarmLabels = labels
                    case nil: break
                    }
                    return Limits(
                        alertLow: l.alertLow, alertHigh: l.alertHigh, actionLow: l.actionLow, actionHigh: l.actionHigh, target: l.target,
                        alarmWhen: alarmWhen, alarmLabels: alarmLabels)
                })
        }
        return DeviceValues(
            device: id, time: UTCTime.format(sample.time), batch: batch?.batchId, phase: batch?.phase, spec: batch?.spec.fingerprint,
            values: rows)
    }

    func auditVerification() async throws(ControlResponse.Failure) -> AuditVerificationReport {
        let path = store.settings.path
        return try await offPool { () throws(ControlResponse.Failure) in
            try readingStore(path, failure: "the audit trail could not be read") { reader in try AuditVerificationReport(reader) }
        }
    }

    func verification() async throws(ControlResponse.Failure) -> VerificationReport {
        let path = store.settings.path
        return try await offPool { () throws(ControlResponse.Failure) in
            try readingStore(path, failure: "the store could not be read") { reader in try VerificationReport(reader) }
        }
    }

    func auditEntries(_ query: AuditQuery) async throws(ControlResponse.Failure) -> AuditEntryList {
        let path = store.settings.path
        let filter = StoreReader.AuditFilter(user: query.user, action: query.action, since: query.since, until: query.until, limit: query.last)
        return try await offPool { () throws(ControlResponse.Failure) in
            try readingStore(path, failure: "the audit trail could not be read") { reader in try AuditEntryList(reader, filter) }
        }
    }
}
