import ControlAPI
import ControlSiteLink
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore
import SiteStore

/// The Control Site's registers at the site: every version accepted is kept in the store
/// (audited, and as a `register_received` site event that reaches the Control Site), and the
/// latest of each kind is enforced, also while offline and across restarts.
extension SiteDaemon {
    /// The released-spec register the site enforces now.
    var releasedSpecs: ReleasedSpecs { ReleasedSpecs(registers[ReleasedSpecEntry.kind]?.register) }

    /// At start: the latest stored version of each kind, read back only if it still hashes to
    /// what was accepted (a changed store row is not enforced).
    func takeUpRegisters(_ stored: [StoredRegister]) {
        for row in stored {
            guard let register = ControlSiteRegister.decode(canonical: row.canonical), register.hash == row.hash,
                register.kind == row.kind, register.version == row.version
            else {
                logger.critical(
                    "a stored register no longer reads to the hash it was accepted with; it is not enforced",
                    metadata: ["kind": "\(row.kind)", "version": "\(row.version)", "hash": "\(row.hash)"])
                continue
            }
            registers[row.kind] = (register, row.received)
        }
    }

    /// A register from the link: kept and enforced when it is newer than the one held; refused
    /// (logged and audited once, the one held goes on) when its hash did not match or its
    /// version is not newer. The same version arriving again (it is retained) changes nothing.
    public func receive(_ received: ReceivedRegister) async {
        switch received {
        case .refused(let kind, let reason):
            await refuse(kind: kind, key: "\(kind):\(reason)", reason: reason.reason)
        case .accepted(let register):
            let held = registers[register.kind]?.register
            if let held {
                if held.version == register.version && held.hash == register.hash { return }
                guard register.version > held.version else {
                    await refuse(
                        kind: register.kind, key: register.hash,
                        reason: "version \(register.version) (\(register.hash)) is not newer than version \(held.version) (\(held.hash)), which the site holds")
                    return
                }
            }
            await accept(register, replacing: held)
        }
    }

    private func refuse(kind: String, key: String, reason: String) async {
        logger.warning("a register from the Control Site was refused; the site keeps the one it holds", metadata: ["kind": "\(kind)", "reason": "\(reason)"])
        guard refusedRegisters.insert(key).inserted else { return }
        do {
            _ = try await store.audit(AuditAction(
                user: store.systemUser, action: "register.refused", target: "register/\(kind)", reason: reason,
                oldValue: registers[kind].map { "version=\($0.register.version) hash=\($0.register.hash)" }))
        } catch {
            logger.error("the refusal of a register could not be audited", metadata: ["kind": "\(kind)", "error": "\(error)"])
        }
    }

    private func accept(_ register: ControlSiteRegister, replacing held: ControlSiteRegister?) async {
        let received = Date()
        let signer = register.signedBy
        do {
            _ = try await store.audit(AuditAction(
                user: store.systemUser, action: "register.receive", target: "register/\(register.kind)",
                reason: "released by \(signer.name) (\(signer.user)) at \(signer.time): \(signer.meaning)",
                oldValue: held.map { "version=\($0.version) hash=\($0.hash)" }, newValue: "version=\(register.version) hash=\(register.hash)"))
        } catch {
            // Not kept, not enforced: the retained message arrives again with the next connection.
            logger.error("a register could not be audited; not taken", metadata: ["kind": "\(register.kind)", "error": "\(error)"])
            return
        }
        let stored = StoredRegister(
            kind: register.kind, version: register.version, hash: register.hash, signerName: signer.name, signerUser: signer.user,
            signedAt: signer.time, meaning: signer.meaning, canonical: register.canonicalForm, received: received)
        let body = RegisterEventBody(
            kind: RegisterEventBody.kind, time: UTCTime.format(received), register: register.kind, version: register.version,
            hash: register.hash, signedBy: signer.name, signedByUser: signer.user, signedAt: signer.time, meaning: signer.meaning,
            entries: register.entries.count)
        store.append(EventRecord(
            stream: .siteEvents, device: "site", time: received, kind: RegisterEventBody.kind, body: body.storedText,
            stateChange: .register(stored)))
        let before = releasedSpecs
        registers[register.kind] = (register, received)
        logger.notice(
            "register received", metadata: ["kind": "\(register.kind)", "version": "\(register.version)", "signed_by": "\(signer.name)"])
        guard register.kind == ReleasedSpecEntry.kind else { return }
        noteRetirements(before: before, now: releasedSpecs, at: received)
        await settleConfiguredBatches(cause: "register of released specs version \(register.version)")
    }

    /// A spec retired while a batch runs under it does not touch the batch: it finishes under
    /// the spec, and its record says the spec was retired during the batch.
    private func noteRetirements(before: ReleasedSpecs, now: ReleasedSpecs, at time: Date) {
        for device in site.devices {
            guard let batch = engine.batch(of: device.id) else { continue }
            let fingerprint = batch.spec.fingerprint
            guard case .retired(let entry) = now.standing(of: fingerprint, profile: device.profile.id),
                !(before.entries[fingerprint]?.state == .retired)
            else { continue }
            let body = SpecReleaseEventBody(
                kind: SpecReleaseEventBody.retiredKind, device: device.id, time: UTCTime.format(time), batch: batch.batchId,
                spec: fingerprint, release: "retired", detail: "the spec was retired while batch \(batch.batchId) ran; the batch goes on under it",
                registerVersion: now.register?.version, registerHash: now.register?.hash, retiredAt: entry.retiredAt,
                retiredBy: entry.retiredBy, reason: entry.reason)
            store.append(EventRecord(
                stream: .events(device: device.id), device: device.id, time: time, kind: body.kind, batchId: batch.batchId,
                phase: batch.phase, specFingerprint: fingerprint, body: body.storedText))
            logger.warning(
                "the spec of a running batch was retired; the batch goes on under it",
                metadata: ["device": "\(device.id)", "batch": "\(batch.batchId)", "spec": "\(fingerprint)"])
        }
    }

    /// The register version as `status` and `specs` show it.
    func registerVersion(_ kind: String) -> RegisterVersion? {
        guard let (register, received) = registers[kind] else { return nil }
        return RegisterVersion(
            kind: kind, version: register.version, hash: register.hash, signedBy: register.signedBy.name,
            signedByUser: register.signedBy.user, signedAt: register.signedBy.time, meaning: register.signedBy.meaning,
            received: UTCTime.format(received))
    }

    /// `pocarectl specs`: the register of released specs, with the devices running each.
    func specRegisterList() -> SpecRegisterList {
        let specs = releasedSpecs
        let running = Dictionary(grouping: site.devices.compactMap { d in engine.batch(of: d.id).map { ($0.spec.fingerprint, d.id) } }, by: \.0)
        let entries = specs.entries.values.sorted { ($0.releasedAt, $0.fingerprint) < ($1.releasedAt, $1.fingerprint) }.map { e in
            SpecRegisterList.Entry(
                fingerprint: e.fingerprint, state: e.state.rawValue, document: e.document, documentVersion: e.documentVersion,
                profiles: e.profiles, releasedBy: e.releasedBy, releasedAt: e.releasedAt, retiredBy: e.retiredBy, retiredAt: e.retiredAt,
                reason: e.reason, runningOn: (running[e.fingerprint] ?? []).map(\.1).sorted())
        }
        return SpecRegisterList(register: registerVersion(ReleasedSpecEntry.kind), requireRelease: site.requireSpecRelease, entries: entries)
    }
}

/// The body of the `register_received` site event: which version of which register the site
/// took, with its hash and signer, so the Control Site sees what each site enforces.
struct RegisterEventBody: Codable, Sendable, Hashable {
    static let kind = "register_received"

    var kind: String
    var device = "site"
    var time: String
    var register: String
    var version: Int64
    var hash: String
    var signedBy: String
    var signedByUser: String
    var signedAt: String
    var meaning: String
    var entries: Int

    enum CodingKeys: String, CodingKey {
        case kind, device, time, register, version, hash, meaning, entries
        case signedBy = "signed_by"
        case signedByUser = "signed_by_user"
        case signedAt = "signed_at"
    }

    init(
        kind: String, time: String, register: String, version: Int64, hash: String, signedBy: String, signedByUser: String,
        signedAt: String, meaning: String, entries: Int
    ) {
        self.kind = kind
        self.time = time
        self.register = register
        self.version = version
        self.hash = hash
        self.signedBy = signedBy
        self.signedByUser = signedByUser
        self.signedAt = signedAt
        self.meaning = meaning
        self.entries = entries
    }

    var storedText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Plain strings and numbers: encoding cannot fail.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
