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

    func alarms(_ query: AlarmQuery) async throws(ControlResponse.Failure) -> ControlResult {
        if query.history {
            let path = store.settings.path
            let ids = site.devices.map(\.id).filter { id in query.device.map { $0 == id } ?? true }
            let limit = query.limit ?? 200
            return .alarmHistory(try await offPool { () throws(ControlResponse.Failure) in
                try Self.alarmHistory(storePath: path, devices: ids, limit: limit)
            })
        }
        let pending = engine.pendingAlarms().map { p in
            AlarmList.Pending(
                alarm: p.id.description, level: p.level.description, priority: p.priority.rawValue, since: UTCTime.format(p.since),
                remainingS: Double(p.remaining.nanoseconds) / 1e9, value: p.lastValue)
        }
        return .alarms(AlarmList(
            alarms: engine.alarms().map { alarm in
                AlarmList.Alarm(
                    alarm: alarm.id.description, state: alarm.state.rawValue, level: alarm.level.description, side: alarm.side.rawValue,
                    priority: alarm.priority.rawValue, since: alarm.activeSince.map(UTCTime.format),
                    shelvedUntil: alarm.shelvedUntil.map(UTCTime.format), value: alarm.lastValue,
                    acknowledgedBy: alarm.acknowledgedBy, latched: alarm.latched ? true : nil,
                    outOfService: alarm.outOfService.map(OutOfServiceItem.init), label: alarm.lastLabel,
                    unacknowledged: alarm.unacknowledged)
            },
            pending: pending, outOfService: engine.outOfService().map(OutOfServiceItem.init)))
    }

    static func alarmHistory(storePath: String, devices: [String], limit: Int) throws(ControlResponse.Failure) -> AlarmHistory {
        let eventsByDevice = try readingStore(storePath) { reader in
            try devices.map { try reader.events(stream: .events(device: $0), after: 0, limit: 1_000_000) }
        }
        var entries: [(time: Date, entry: AlarmHistory.Entry)] = []
        for events in eventsByDevice {
            for stored in events where stored.alarm != nil {
                let event = ControlEvent.stored(stored.body)
                entries.append((stored.time, AlarmHistory.Entry(
                    time: UTCTime.format(stored.time), device: stored.device, kind: stored.kind, alarm: stored.alarm ?? "",
                    level: event?.level?.description, value: event?.value, limit: event?.limit, user: event?.user, reason: event?.reason)))
            }
        }
        entries.sort { $0.time < $1.time }
        return AlarmHistory(history: entries.suffix(limit).map(\.entry))
    }

    func alarmID(_ text: String) throws(ControlResponse.Failure) -> AlarmID {
        guard let alarm = AlarmID(text) else {
            throw .init(code: .badRequest, message: "give the alarm as device/parameter/kind or device/communication, not '\(text)'")
        }
        return alarm
    }

    func result(_ alarm: AlarmID, by peer: ControlPeer) -> AlarmActionResult {
        AlarmActionResult(
            alarm: alarm.description, state: engine.alarms().first { $0.id == alarm }?.state.rawValue ?? "normal", user: peer.user)
    }

    func acknowledge(_ action: AlarmAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        let current = engine.alarms().first { $0.id == alarm }
        guard let current, current.state == .unacknowledged || current.state == .returnedUnacknowledged else {
            throw .init(code: .refused, message: "alarm \(alarm) has nothing to acknowledge (state \(current?.state.rawValue ?? "normal"))")
        }
        // An alarm whose condition has gone: the acknowledgement closes it, nothing stands.
        let cleared = current.level == .normal && !current.latched
        let note = cleared ? "alarm \(alarm) had already cleared; acknowledged, it is back to normal and nothing stands" : nil
        try await audit(AuditAction(
            user: peer.user, action: "alarm.acknowledge", target: alarm.description, reason: reason, oldValue: current.state.rawValue,
            newValue: (current.level != .normal ? AlarmState.acknowledged : current.latched ? .latched : .normal).rawValue
                + (cleared ? " (the alarm had cleared)" : "")))
        try apply { try engine.acknowledge(alarm, user: peer.user, reason: reason, at: now()) }
        var answer = result(alarm, by: peer)
        answer.note = note
        return answer
    }

    func shelve(_ action: ShelveAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        guard let duration = parseDuration(action.duration), duration >= .seconds(1), duration <= .seconds(86_400) else {
            throw .init(code: .badRequest, message: "give how long with --for, between 1s and 24h (e.g. 30m), not '\(action.duration)'")
        }
        guard engine.isKnown(alarm) else { throw .init(code: .refused, message: "unknown alarm \(alarm)") }
        let current = engine.alarms().first { $0.id == alarm }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.shelve", target: alarm.description, reason: reason,
            oldValue: current?.state.rawValue ?? "normal", newValue: "for \(duration)"))
        try apply { try engine.shelve(alarm, for: duration, user: peer.user, reason: reason, at: now()) }
        return result(alarm, by: peer)
    }

    func unshelve(_ action: AlarmAction, by peer: ControlPeer) async throws(ControlResponse.Failure) -> AlarmActionResult {
        let alarm = try alarmID(action.alarm)
        let reason = try requireReason(action.reason)
        guard engine.alarms().first(where: { $0.id == alarm })?.state == .shelved else {
            throw .init(code: .refused, message: "alarm \(alarm) is not shelved")
        }
        try await audit(AuditAction(
            user: peer.user, action: "alarm.unshelve", target: alarm.description, reason: reason, oldValue: AlarmState.shelved.rawValue))
        try apply { try engine.unshelve(alarm, user: peer.user, reason: reason, at: now()) }
        return result(alarm, by: peer)
    }

    private func batchState(_ device: String, by peer: ControlPeer, notes: [String] = []) -> BatchState {
        let batch = engine.batch(of: device)
        return BatchState(
            device: device, batch: batch?.batchId, phase: batch?.phase, spec: batch?.spec.fingerprint, user: peer.user,
            notes: notes.isEmpty ? nil : notes)
    }

    func startBatch(_ start: BatchStart, by peer: ControlPeer) async throws(ControlResponse.Failure) -> BatchState {
        let device = try device(start.device)
        let profile = device.profile.id
        guard !start.batch.isEmpty else { throw .init(code: .badRequest, message: "give --batch ID") }
        // The batch id is in every record of the batch and in the hash of each: printable, and short.
        guard start.batch.count <= 128, start.batch.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw .init(code: .badRequest, message: "a batch id is at most 128 printable characters")
        }
        let reason = try requireReason(start.reason)
        if let material = start.startingMaterial {
            guard !material.isEmpty, material.count <= 128, material.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw .init(code: .badRequest, message: "a starting material id is 1 to 128 printable characters")
            }
        }
        if let running = engine.batch(of: start.device) {
            throw .init(code: .refused, message: "device \(start.device) runs batch \(running.batchId); end it first")
        }
        // A batch id names one run: used before, it may only join that run while it goes on
        // another device (a batch that spans devices, one record per device).
        guard !usedBatchIds.contains(start.batch) || !engine.devices(running: start.batch).isEmpty else {
            throw .init(code: .refused, message: "batch id \(start.batch) was used before at this site: a batch id names one run; give a new one")
        }
        let spec = try resolveSpec(start.spec)
        // The Control Site's word first: what it released, and for which equipment models.
        let released = releasedSpecs
        if site.requireSpecRelease && !released.standing(of: spec.fingerprint, profile: profile).isReleased {
            throw .init(code: .refused, message: released.statement(fingerprint: spec.fingerprint, profile: profile))
        }
        guard spec.identity.profiles.contains(profile) else {
            throw .init(code: .refused, message: "spec \(spec.identity.documentId) does not name profile '\(profile)'")
        }
        if let phase = start.phase, spec.phase(phase) == nil {
            throw .init(code: .refused, message: "phase '\(phase)' is not in the spec (\(spec.phases.map(\.phase).joined(separator: ", ")))")
        }
        let reports = Self.reportsPhase(device.profile)
        if start.followDevicePhase && !reports {
            throw .init(code: .refused, message: "device \(start.device) reports no phase (its profile has no enumerated 'phase' parameter)")
        }
        let follow = reports && !start.manualPhase
        var phase = start.phase
        if follow, let reported = reportedPhase(of: device, in: spec) {
            // A batch on a device that reports its phase starts in the device's phase.
            if let asked = start.phase, asked != reported {
                throw .init(
                    code: .refused,
                    message: "device \(start.device) reports phase \(reported) in \(Self.phaseRegister(device.profile)), which governs the batch's phase; start without --phase, or with --manual-phase to set phases by hand")
            }
            phase = reported
        }
        let notes = try await beginBatch(
            on: device, batchId: start.batch, spec: spec, phase: phase, follow: follow, user: peer.user, reason: reason,
            startingMaterial: start.startingMaterial)
        return batchState(start.device, by: peer, notes: notes)
    }

    func changePhase(_ change: BatchPhaseChange, by peer: ControlPeer) async throws(ControlResponse.Failure) -> BatchState {
        let device = try device(change.device)
        guard let running = engine.batch(of: change.device) else { throw .init(code: .refused, message: "device \(change.device) runs no batch") }
        let following = running.phaseSource != .manual
        if following && !change.stopFollowingDevice {
            throw .init(
                code: .refused,
                message: "batch \(running.batchId) follows the phase device \(change.device) reports in \(Self.phaseRegister(device.profile)); to set it by hand, stop following the device with --stop-following-device (audited)")
        }
        guard running.spec.phase(change.phase) != nil else {
            throw .init(
                code: .refused,
                message: "phase '\(change.phase)' is not in the spec (\(running.spec.phases.map(\.phase).joined(separator: ", ")))")
        }
        guard change.phase != running.phase || following else {
            throw .init(code: .refused, message: "batch \(running.batchId) is already in phase \(change.phase)")
        }
        let reason = try requireReason(change.reason)
        try await audit(AuditAction(
            user: peer.user, action: "batch.phase", target: change.device, reason: reason,
            oldValue: following ? "\(running.phase) (from the device)" : running.phase,
            newValue: following ? "\(change.phase) (by hand from now on)" : change.phase))
        if following {
            try apply { try engine.stopFollowingDevicePhase(device: change.device, user: peer.user, reason: reason, at: now()) }
        }
        if change.phase != running.phase {
            try apply { try engine.changePhase(device: change.device, to: change.phase, user: peer.user, reason: reason, at: now()) }
        }
        return batchState(change.device, by: peer)
    }

    func endBatch(_ end: BatchEnd, by peer: ControlPeer) async throws(ControlResponse.Failure) -> BatchState {
        _ = try device(end.device)
        guard let running = engine.batch(of: end.device) else { throw .init(code: .refused, message: "device \(end.device) runs no batch") }
        let reason = try requireReason(end.reason)
        // Shelves and latches belong to the batch: its end lifts them, and says so.
        let standing = engine.alarms().filter { $0.id.device == end.device }
        let lifted = standing.filter { $0.shelvedUntil != nil }.map { "the shelve of \($0.id) is lifted: batch \(running.batchId) ended" }
            + standing.filter(\.latched).map { "the latch of \($0.id) is released: batch \(running.batchId) ended" }
        try await audit(AuditAction(
            user: peer.user, action: "batch.end", target: end.device, reason: reason, oldValue: "batch=\(running.batchId)",
            newValue: lifted.isEmpty ? nil : lifted.joined(separator: "; ")))
        try apply { try engine.endBatch(device: end.device, user: peer.user, reason: reason, at: now()) }
        return batchState(end.device, by: peer, notes: lifted)
    }

    /// A spec the daemon knows by its fingerprint, or a file in the site's spec folders. The
    /// daemon reads with its own rights: any other path is refused unopened, and a file that
    /// is not a valid spec is answered with where its problems are, never with its words
    /// (`pocarectl spec validate`, run with the operator's own rights, shows them).
    func resolveSpec(_ reference: String) throws(ControlResponse.Failure) -> IPCSpec {
        if FingerprintReference.looksLikeFingerprint(reference) && !reference.contains("/") {
            // The released specs first: their text came from the Control Site.
            let released = releasedSpecs
            let candidates = Set(knownSpecs.keys).union(released.entries.keys)
            switch FingerprintReference.resolve(reference, among: candidates) {
            case .failure(let refusal): throw .init(code: .refused, message: "spec: \(refusal)")
            case .success(let fingerprint):
                if let known = knownSpecs[fingerprint] { return known }
                guard let source = released.source(of: fingerprint) else {
                    throw .init(code: .refused, message: released.statement(fingerprint: fingerprint, profile: "any equipment model"))
                }
                let parsed = SpecLoader.parse(source, file: "released spec \(fingerprint)", profiles: profileCatalogue())
                guard let spec = parsed.spec, spec.fingerprint == fingerprint else {
                    throw .init(code: .refused, message: "spec: the released spec \(fingerprint) does not read to its fingerprint against this site's device profiles")
                }
                return spec
            }
        }
        switch SpecDirectory(directories: site.specDirectories).resolve(reference) {
        case .failure(let refusal):
            throw .init(code: .refused, message: "spec: \(refusal)")
        case .success(let path):
            let result = SpecLoader.load(path: path, profiles: profileCatalogue())
            if let spec = result.spec { return spec }
            let errors = result.diagnostics.filter { $0.severity == .error }
            let first = errors.first.map { " (the first at line \($0.line), \($0.field))" } ?? ""
            throw .init(
                code: .refused,
                message: "spec: '\(path)' is not a valid spec: \(errors.count) problem\(errors.count == 1 ? "" : "s")\(first); `pocarectl spec validate \(path)` lists them")
        }
    }

    func profileCatalogue() -> [String: DeviceProfile] {
        Dictionary(site.devices.map { ($0.profile.id, $0.profile) }, uniquingKeysWith: { a, _ in a })
    }

    func batchList() async throws(ControlResponse.Failure) -> BatchList {
        let path = store.settings.path
        return try await offPool { () throws(ControlResponse.Failure) in
            let batches = try readingStore(path) { reader in try reader.batches() }
            return BatchList(batches: batches.map {
                BatchList.Batch(device: $0.device, batch: $0.batch, spec: $0.spec, started: UTCTime.format($0.started), ended: $0.ended.map(UTCTime.format))
            })
        }
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
