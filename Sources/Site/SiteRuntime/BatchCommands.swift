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

/// The operators' batch commands: start, phase and end, each checked, audited and then applied;
/// the specs an operator may name; the batch list.
extension SiteDaemon {
    func batchState(_ device: String, by peer: ControlPeer, notes: [String] = []) -> BatchState {
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
}
