import Foundation
import POCareCore
import Yams

/// Reads the `devices` section of a site configuration: each device with its profile, its
/// address and the batch it starts with. Profiles and specs are read once however many
/// devices name them.
struct DeviceSectionReader {
    let collector: DiagnosticCollector
    /// Where specs are found (the configuration's folder).
    let baseDirectory: URL
    let profileDirectory: URL
    private(set) var devices: [DeviceConfig] = []
    /// The profiles' and the specs' own errors, reported ahead of the configuration's.
    private(set) var profileDiagnostics: [Diagnostic] = []
    private(set) var specDiagnostics: [Diagnostic] = []
    private var profiles: [String: DeviceProfile?] = [:]
    private var specs: [String: IPCSpec?] = [:]
    /// The index of the device that first used each id.
    private var firstUse: [String: Int] = [:]
    /// Every profile of the profile folder, read only once a batch names a spec.
    private lazy var catalogue: [String: DeviceProfile] = SpecLoader.profileCatalogue(directory: profileDirectory.path)

    init(collector: DiagnosticCollector, baseDirectory: URL, profileDirectory: URL) {
        self.collector = collector
        self.baseDirectory = baseDirectory
        self.profileDirectory = profileDirectory
    }

    mutating func read(_ top: MappingReader) {
        let deviceNodes = top.sequence("devices", required: true) ?? []
        if top.has("devices") && deviceNodes.isEmpty { collector.error("devices", "a site needs at least one device") }
        for (index, node) in deviceNodes.enumerated() {
            if let device = readDevice(node, index: index) { devices.append(device) }
        }
    }

    /// One device; nil if it has an error (reported).
    private mutating func readDevice(_ node: Node, index: Int) -> DeviceConfig? {
        let path = "devices[\(index)]"
        guard let reader = MappingReader(node, path: path, collector: collector) else { return nil }
        reader.rejectUnknownKeys(allowed: SiteConfigLoader.deviceKeys)
        let id = reader.string("id", required: true)
        if let id { checkId(id, path: path, index: index) }
        var profile: DeviceProfile?
        if let profileName = reader.string("profile", required: true) { profile = loadProfile(profileName, path: path) }
        var endpoint: (host: String, port: Int)?
        if let address = reader.string("address", required: true) {
            endpoint = parseEndpoint(address)
            if endpoint == nil {
                collector.error("\(path).address", "expected host:port (or [ipv6]:port) with port 1...65535, got '\(address)'")
            }
        }
        let unitId = reader.int("unit_id", in: 0...255)
        let interval = reader.duration("poll_interval") ?? .seconds(1)
        if interval < .milliseconds(10) || interval > .seconds(3600) {
            collector.error("\(path).poll_interval", "poll interval must be between 10ms and 1h")
        }
        var batch: BatchPlan?
        if let batchReader = reader.mappingReader("batch") { batch = readBatch(batchReader, path: path, profile: profile) }
        guard let id, let profile, let endpoint else { return nil }
        return DeviceConfig(
            id: id, profile: profile, host: endpoint.host, port: endpoint.port, unitId: unitId ?? profile.modbus.unitId,
            pollInterval: interval, batch: batch)
    }

    private mutating func checkId(_ id: String, path: String, index: Int) {
        if id == "site" {
            collector.error("\(path).id", "'site' is reserved for the site's own event stream; choose another device id")
        }
        if !ProfileLoader.isIdentifier(id) {
            collector.error("\(path).id", "'\(id)' is not a valid device id: use lower-case letters, digits, '-' and '_'")
        }
        if let first = firstUse[id] {
            collector.error("\(path).id", "duplicate device id '\(id)' (first used by devices[\(first)])")
        }
        firstUse[id] = index
    }

    /// The profile a device names, read the first time it is named.
    private mutating func loadProfile(_ name: String, path: String) -> DeviceProfile? {
        let profilePath = SiteConfigLoader.resolve(name, against: profileDirectory).path
        if let cached = profiles[profilePath] { return cached }
        let result = ProfileLoader.load(path: profilePath)
        profileDiagnostics += result.diagnostics
        profiles[profilePath] = result.profile
        if result.profile == nil {
            collector.error("\(path).profile", "profile '\(profilePath)' is not valid (see its errors)")
        }
        return result.profile
    }

    /// The batch a device starts with, checked against its spec and profile.
    private mutating func readBatch(_ batchReader: MappingReader, path: String, profile: DeviceProfile?) -> BatchPlan? {
        batchReader.rejectUnknownKeys(allowed: SiteConfigLoader.batchKeys)
        let batchId = batchReader.string("id", required: true)
        let phase = batchReader.string("phase")
        // A device that reports its phase governs it, unless the configuration says otherwise.
        let follow = batchReader.bool("follow_device_phase") ?? (profile?.parameter("phase")?.enumeration != nil)
        guard let specName = batchReader.string("spec", required: true) else { return nil }
        let specPath = SiteConfigLoader.resolve(specName, against: baseDirectory).path
        if specs[specPath] == nil {
            let result = SpecLoader.load(path: specPath, profiles: catalogue)
            specDiagnostics += result.diagnostics
            specs[specPath] = .some(result.spec)
        }
        guard let spec = specs[specPath] ?? nil else {
            collector.error("\(path).batch.spec", "spec '\(specPath)' is not valid (see its errors)")
            return nil
        }
        if let profile, !spec.identity.profiles.contains(profile.id) {
            collector.error("\(path).batch.spec", "spec \(spec.identity.documentId) does not apply to profile '\(profile.id)' (it names \(spec.identity.profiles.joined(separator: ", ")))")
        } else if follow, let profile, profile.parameter("phase")?.enumeration == nil {
            collector.error("\(path).batch.follow_device_phase", "profile '\(profile.id)' has no enumerated 'phase' parameter to follow")
        } else if let phase, spec.phase(phase) == nil {
            collector.error("\(path).batch.phase", "phase '\(phase)' is not in spec \(spec.identity.documentId) (phases: \(spec.phases.map(\.phase).joined(separator: ", ")))")
        } else if let batchId {
            return BatchPlan(batchId: batchId, spec: spec, phase: phase, followDevicePhase: follow)
        }
        return nil
    }
}
