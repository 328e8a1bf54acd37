import ControlAPI
import Foundation
import InProcessControl
import Logging
import POCareCore
import SiteStore

/// What became of the batch a device's entry in the site configuration names. The entry is a
/// convenience for the first start: the batch starts only where the device runs no batch and
/// its id was never used at the site, under a released spec (where release is required); a
/// running batch is never ended, restarted or re-phased for it.
struct ConfiguredBatch: Equatable {
    enum State: Equatable {
        case running
        case waitingForRelease(String)
        case waitingForFirstPoll
        case deviceRunsBatch(String)
        case used
        case failed(String)
    }

    var batchId: String
    var state: State

    var status: ConfiguredBatchStatus {
        switch state {
        case .running: ConfiguredBatchStatus(batch: batchId, state: "running")
        case .waitingForRelease(let why): ConfiguredBatchStatus(batch: batchId, state: "waiting for a released spec", detail: why)
        case .waitingForFirstPoll: ConfiguredBatchStatus(batch: batchId, state: "waiting for the device's first poll")
        case .deviceRunsBatch(let other):
            ConfiguredBatchStatus(
                batch: batchId, state: "not started: the device runs another batch",
                detail: "the device runs batch \(other); nothing changes until a person ends it")
        case .used:
            ConfiguredBatchStatus(
                batch: batchId, state: "not started: the batch id was used before",
                detail: "a batch id names one run at a site; batch \(batchId) is not started again")
        case .failed(let why): ConfiguredBatchStatus(batch: batchId, state: "not started", detail: why)
        }
    }
}

extension SiteDaemon {
    /// Starts each configured batch that may start now and notes why the others do not; each
    /// change of what became of one is logged once (the journal says it, `status` shows it).
    func settleConfiguredBatches(cause: String) async {
        awaitingFirstPoll = []
        for device in site.devices {
            guard let plan = device.batch else {
                configured[device.id] = nil
                continue
            }
            let state = await settle(plan, on: device)
            if state == .waitingForFirstPoll { awaitingFirstPoll.insert(device.id) }
            let now = ConfiguredBatch(batchId: plan.batchId, state: state)
            defer { configured[device.id] = now }
            guard configured[device.id] != now else { continue }
            let metadata: Logger.Metadata = [
                "device": "\(device.id)", "batch": "\(plan.batchId)", "cause": "\(cause)", "detail": "\(now.status.detail ?? "")",
            ]
            switch state {
            case .running, .waitingForFirstPoll: logger.info("configured batch: \(now.status.state)", metadata: metadata)
            case .used: logger.notice("configured batch: \(now.status.state)", metadata: metadata)
            case .waitingForRelease, .deviceRunsBatch, .failed: logger.warning("configured batch: \(now.status.state)", metadata: metadata)
            }
        }
    }

    private func settle(_ plan: BatchPlan, on device: DeviceConfig) async -> ConfiguredBatch.State {
        if let running = engine.batch(of: device.id) {
            return running.batchId == plan.batchId ? .running : .deviceRunsBatch(running.batchId)
        }
        if usedBatchIds.contains(plan.batchId) { return .used }
        let released = releasedSpecs
        if site.requireSpecRelease && !released.standing(of: plan.spec.fingerprint, profile: device.profile.id).isReleased {
            return .waitingForRelease(released.statement(fingerprint: plan.spec.fingerprint, profile: device.profile.id))
        }
        let follow = plan.followDevicePhase && Self.reportsPhase(device.profile)
        // A device that reports its phase: the batch starts in that phase, so it waits for a poll.
        if follow && pipeline.latest[device.id] == nil { return .waitingForFirstPoll }
        let phase = (follow ? reportedPhase(of: device, in: plan.spec) : nil) ?? plan.phase
        do {
            _ = try await beginBatch(
                on: device, batchId: plan.batchId, spec: plan.spec, phase: phase, follow: follow, user: store.systemUser,
                reason: "started from the site configuration")
        } catch {
            return .failed(error.message)
        }
        return .running
    }

    /// Whether a device reports its phase: its profile has an enumerated `phase` parameter.
    static func reportsPhase(_ profile: DeviceProfile) -> Bool { profile.parameter("phase")?.enumeration != nil }

    /// The phase a device reports in its last good poll, where the spec has it.
    func reportedPhase(of device: DeviceConfig, in spec: IPCSpec) -> String? {
        guard let reading = pipeline.latest[device.id]?.reading("phase"), reading.quality == .good, let label = reading.label,
            spec.phase(label) != nil
        else { return nil }
        return label
    }

    /// Where the device's phase comes from, for messages: the parameter and its register.
    static func phaseRegister(_ profile: DeviceProfile) -> String {
        guard let parameter = profile.parameter("phase") else { return "its 'phase' parameter" }
        return "parameter 'phase' (\(parameter.table.rawValue) \(parameter.address))"
    }

    /// Starts a batch: audited first, then the engine, then the spec's release standing as the
    /// batch record's first word on it. Returns what the operator should know.
    func beginBatch(
        on device: DeviceConfig, batchId: String, spec: IPCSpec, phase: String?, follow: Bool, user: String, reason: String,
        startingMaterial: String? = nil
    ) async throws(ControlResponse.Failure) -> [String] {
        let released = releasedSpecs
        let standing = released.standing(of: spec.fingerprint, profile: device.profile.id)
        let statement = released.statement(fingerprint: spec.fingerprint, profile: device.profile.id)
        let source = follow ? "from the device" : "by hand"
        try await audit(AuditAction(
            user: user, action: "batch.start", target: device.id, reason: reason,
            newValue: "batch=\(batchId) spec=\(spec.fingerprint) phase=\(phase ?? spec.phases.first?.phase ?? "-") (\(source)) release=\(standing.isReleased ? "released" : "not released: \(standing.state)")"
                + (startingMaterial.map { " starting_material=\($0)" } ?? "")))
        knownSpecs[spec.fingerprint] = spec
        let now = now()
        try apply {
            try engine.startBatch(
                device: device.id, batchId: batchId, spec: spec, phase: phase, followDevicePhase: follow, user: user, reason: reason,
                startingMaterial: startingMaterial, at: now)
        }
        usedBatchIds.insert(batchId)
        let register = released.register
        let body = SpecReleaseEventBody(
            kind: SpecReleaseEventBody.startKind, device: device.id, time: UTCTime.format(now.wall), batch: batchId, spec: spec.fingerprint,
            release: standing.isReleased ? "released" : "not released", detail: statement, registerVersion: register?.version,
            registerHash: register?.hash, releaseRequired: site.requireSpecRelease)
        let batch = engine.batch(of: device.id)
        store.append(EventRecord(
            stream: .events(device: device.id), device: device.id, time: now.wall, kind: body.kind, batchId: batchId,
            phase: batch?.phase, specFingerprint: spec.fingerprint, body: body.storedText))
        if standing.isReleased { return [] }
        logger.warning("batch started under a spec that is not released", metadata: ["device": "\(device.id)", "batch": "\(batchId)", "detail": "\(statement)"])
        return ["\(statement); release is not required at this site (specs.require_release: false), so the batch record says the spec was not released"]
    }
}
