import ControlSiteLink
import InProcessControl
import POCareCore
import Synchronization

/// What each device is running and whether it answers, readable from any thread: the pipeline
/// writes it, the link reads it for its retained status message.
final class DeviceStatusBoard: Sendable {
    struct Device: Sendable, Hashable {
        var id: String
        var profile: String
        var batch: String?
        var phase: String?
        var spec: String?
        /// Whether the last poll got any good value; nil before the first poll.
        var reachable: Bool?
    }

    private let devices: Mutex<[Device]>

    init(site: SiteConfig) {
        devices = Mutex(site.devices.map { Device(id: $0.id, profile: $0.profile.id) })
    }

    var snapshot: [Device] { devices.withLock { $0 } }

    /// The board as the MQTT contract's status message carries it.
    var contractStatus: [Contract.DeviceStatus] {
        snapshot.map {
            Contract.DeviceStatus(id: $0.id, profile: $0.profile, batch: $0.batch, phase: $0.phase, spec: $0.spec, reachable: $0.reachable)
        }
    }

    /// After a reload: the configured devices, with the batches the engine runs.
    func reset(site: SiteConfig, engine: ControlEngine) {
        let list = site.devices.map { device -> Device in
            let batch = engine.batch(of: device.id)
            return Device(id: device.id, profile: device.profile.id, batch: batch?.batchId, phase: batch?.phase, spec: batch?.spec.fingerprint)
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
