import ControlSiteLink
import POCareContract
import InProcessControl
import POCareConfig
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
    /// Each device's retained metadata, built once per change (not per publish).
    private let metadata: Mutex<[String: (source: Contract.DeviceMetadata, message: Contract.RetainedMessage)]>
    /// Every spec the daemon has seen, by fingerprint: each is published, retained, so a batch's
    /// spec can be read at the Control Site long after the batch.
    private let specs = Mutex<[String: IPCSpec]>([:])
    private let siteId: Mutex<String>
    private let labels: Mutex<[String: Contract.Labels]>

    init(site: SiteConfig) {
        siteId = Mutex(site.siteId)
        labels = Mutex(Self.labels(site: site))
        devices = Mutex(site.devices.map { Device(id: $0.id, profile: $0.profile.id) })
        metadata = Mutex(Self.metadata(site: site, previous: [:]))
    }

    private static func metadata(
        site: SiteConfig, previous: [String: (source: Contract.DeviceMetadata, message: Contract.RetainedMessage)]
    ) -> [String: (source: Contract.DeviceMetadata, message: Contract.RetainedMessage)] {
        var result: [String: (source: Contract.DeviceMetadata, message: Contract.RetainedMessage)] = [:]
        for device in site.devices {
            var source = Contract.DeviceMetadata(
                device: device.id, profile: device.profile, profileFingerprint: ProfileFingerprint.of(device.profile))
            // What the device reported stays known across a reload that keeps its profile.
            if let old = previous[device.id]?.source, old.profile == device.profile {
                source.serialNumber = old.serialNumber
                source.firmwareVersion = old.firmwareVersion
            }
            if let old = previous[device.id], old.source == source {
                result[device.id] = old
            } else {
                result[device.id] = (source, Self.message(site: site.siteId, source))
            }
        }
        return result
    }

    private static func labels(site: SiteConfig) -> [String: Contract.Labels] {
        Dictionary(site.devices.map { ($0.id, Contract.labels(of: $0.profile)) }, uniquingKeysWith: { first, _ in first })
    }

    private static func message(site: String, _ source: Contract.DeviceMetadata) -> Contract.RetainedMessage {
        let (payload, fingerprint) = source.message(site: site)
        return Contract.RetainedMessage(key: source.device, payload: payload, fingerprint: fingerprint)
    }

    /// The retained metadata and specs for the link, in a stable order.
    var retained: Contract.Retained {
        let meta = metadata.withLock { $0.values.map(\.message) }.sorted { $0.key < $1.key }
        let specs = specs.withLock { $0.values.filter { !$0.canonicalForm.isEmpty } }.sorted { $0.fingerprint < $1.fingerprint }
        return Contract.Retained(metadata: meta, specs: specs, labels: labels.withLock { $0 })
    }

    func register(specs known: [String: IPCSpec]) {
        specs.withLock { $0.merge(known) { old, _ in old } }
    }

    /// Takes note of the serial number and firmware version a device reports, where its
    /// profile maps them (`serial_number`, `firmware_version`).
    func observeIdentity(device: String, readings: [Reading]) {
        var serial: String?, firmware: String?
        for reading in readings where reading.quality == .good {
            guard case .text(let text)? = reading.value else { continue }
            if reading.parameterId == "serial_number" { serial = text }
            if reading.parameterId == "firmware_version" { firmware = text }
        }
        guard serial != nil || firmware != nil else { return }
        let site = siteId.withLock { $0 }
        metadata.withLock { all in
            guard var entry = all[device] else { return }
            let unchanged = (serial == nil || serial == entry.source.serialNumber)
                && (firmware == nil || firmware == entry.source.firmwareVersion)
            guard !unchanged else { return }
            if let serial { entry.source.serialNumber = serial }
            if let firmware { entry.source.firmwareVersion = firmware }
            all[device] = (entry.source, Self.message(site: site, entry.source))
        }
    }

    var snapshot: [Device] { devices.withLock { $0 } }

    /// The board as the MQTT contract's status message carries it.
    var contractStatus: [Contract.DeviceStatus] {
        let fingerprints = metadata.withLock { $0.mapValues(\.message.fingerprint) }
        return snapshot.map {
            Contract.DeviceStatus(
                id: $0.id, profile: $0.profile, batch: $0.batch, phase: $0.phase, spec: $0.spec, reachable: $0.reachable,
                meta: fingerprints[$0.id])
        }
    }

    /// After a reload: the configured devices, with the batches the engine runs.
    func reset(site: SiteConfig, engine: ControlEngine) {
        let list = site.devices.map { device -> Device in
            let batch = engine.batch(of: device.id)
            return Device(id: device.id, profile: device.profile.id, batch: batch?.batchId, phase: batch?.phase, spec: batch?.spec.fingerprint)
        }
        devices.withLock { $0 = list }
        siteId.withLock { $0 = site.siteId }
        labels.withLock { $0 = Self.labels(site: site) }
        metadata.withLock { $0 = Self.metadata(site: site, previous: $0) }
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
