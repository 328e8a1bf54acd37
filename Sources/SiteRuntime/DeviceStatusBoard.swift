import ControlSiteLink
import InProcessControl
import POCareCore
import Synchronization

/// What each device is running, readable from any thread (the link's birth message).
final class DeviceStatusBoard: Sendable {
    private let devices: Mutex<[Contract.DeviceStatus]>

    init(site: SiteConfig) {
        devices = Mutex(site.devices.map {
            Contract.DeviceStatus(id: $0.id, profile: $0.profile.id, batch: nil, phase: nil, spec: nil)
        })
    }

    var snapshot: [Contract.DeviceStatus] { devices.withLock { $0 } }

    /// After a reload: the configured devices, with the batches the engine runs.
    func reset(site: SiteConfig, engine: ControlEngine) {
        let list = site.devices.map { device -> Contract.DeviceStatus in
            let batch = engine.batch(of: device.id)
            return Contract.DeviceStatus(
                id: device.id, profile: device.profile.id, batch: batch?.batchId, phase: batch?.phase,
                spec: batch?.spec.fingerprint)
        }
        devices.withLock { $0 = list }
    }

    func update(device: String, reachable: Bool) {
        devices.withLock { list in
            guard let i = list.firstIndex(where: { $0.id == device }), list[i].reachable != reachable else { return }
            list[i].reachable = reachable
        }
    }

    func update(device: String, batch: String?, phase: String?, spec: String?) {
        devices.withLock { list in
            guard let i = list.firstIndex(where: { $0.id == device }) else { return }
            list[i].batch = batch
            list[i].phase = phase
            list[i].spec = spec
        }
    }
}
