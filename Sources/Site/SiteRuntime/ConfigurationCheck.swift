import Foundation
import POCareConfig
import POCareCore
import SiteStore

/// What a configuration would do to the batches a site runs: a reload may not take the device
/// of a running batch away or change its register map, and a configured batch starts only
/// where the device runs no batch and its id was never used. `pocared --check` says in
/// advance what the daemon will say when it starts.
extension SiteDaemon {
    /// Why a reload to `next` would break a running batch: one line per batch, naming it.
    func batchesAReloadWouldBreak(_ next: SiteConfig) -> [String] {
        let after = Dictionary(next.devices.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return site.devices.compactMap { device in
            guard let batch = engine.batch(of: device.id) else { return nil }
            guard let changed = after[device.id] else {
                return "device \(device.id) runs batch \(batch.batchId): a reload may not remove it (a person ends the batch first)"
            }
            guard ProfileFingerprint.of(changed.profile) == ProfileFingerprint.of(device.profile) else {
                return "device \(device.id) runs batch \(batch.batchId): a reload may not change its profile (\(device.profile.id) to \(changed.profile.id), or its register map) while the batch runs"
            }
            return nil
        }
    }

    /// What the site store says of a configuration's batches: running batches that a
    /// configured batch will not replace, configured ids already used, running batches whose
    /// device the configuration no longer has. Nothing is changed; a store that does not exist
    /// yet says nothing.
    public static func batchFindings(site: SiteConfig, storePath: String) -> [String] {
        // Findings only: a store that cannot be read adds none here, and the daemon's start reports it.
        guard FileManager.default.fileExists(atPath: storePath), let reader = try? StoreReader(path: storePath) else { return [] }
        let running = (try? reader.runningBatches()) ?? []
        let batches = (try? reader.batches()) ?? []
        var findings: [String] = []
        for device in site.devices {
            guard let plan = device.batch else { continue }
            if let current = running.first(where: { $0.device == device.id }) {
                if current.batch != plan.batchId {
                    findings.append(
                        "devices[\(device.id)].batch: configured batch \(plan.batchId) will not start: device \(device.id) runs batch \(current.batch) (started \(UTCTime.format(current.started)) by \(current.startedBy ?? "-")); nothing changes until a person ends it")
                }
            } else if let used = batches.first(where: { $0.batch == plan.batchId }) {
                findings.append(
                    "devices[\(device.id)].batch: configured batch \(plan.batchId) will not start: the batch id was used at this site (device \(used.device), started \(UTCTime.format(used.started))\(used.ended.map { ", ended \(UTCTime.format($0))" } ?? ""))")
            }
        }
        let configured = Set(site.devices.map(\.id))
        for batch in running where !configured.contains(batch.device) {
            findings.append(
                "batch \(batch.batch) runs on device \(batch.device), which the configuration does not have: it stays in the store, unwatched, until the device is configured again")
        }
        return findings
    }
}
