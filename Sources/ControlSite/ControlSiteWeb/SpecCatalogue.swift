import ControlSiteRecords
import POCareConfig
import POCareContract
import Foundation
import POCareCore

/// Specs as the pages need them (`SpecLookup`): released ones for the register, the bands and
/// comparability, and what a batch ran (released, or as its site published it) for its statistics.
final class SpecCatalogue: Sendable {
    let lookup: SpecLookup
    /// The device profiles specs are read against, by id (comparability takes each parameter's resolution from them).
    let profiles: [String: DeviceProfile]

    init(profilesDirectory: String?) {
        let directory = profilesDirectory
            ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
        lookup = SpecLookup(profilesDirectory: directory)
        profiles = SpecLoader.profileCatalogue(directory: directory)
    }

    /// The spec of `fingerprint` (full, or its first hex digits), if the register holds it.
    func spec(_ fingerprint: String, on connection: PostgresConnection) throws -> IPCSpec? {
        try lookup.released(fingerprint, on: connection)
    }

    /// The spec a batch ran under: released, or as its site published it.
    func ran(_ fingerprint: String, on connection: PostgresConnection) throws -> IPCSpec? {
        try lookup.ran(fingerprint, on: connection)
    }
}
