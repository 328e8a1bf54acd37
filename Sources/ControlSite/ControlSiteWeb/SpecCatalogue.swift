import ControlSiteRecords
import POCareContract
import Foundation
import POCareConfig
import POCareCore
import Synchronization

/// Released specs as the pages need them: read from the register's stored text with the
/// site's own loader, once per fingerprint (a released spec never changes).
final class SpecCatalogue: Sendable {
    let profilesDirectory: String
    private let parsed = Mutex<[String: IPCSpec]>([:])

    init(profilesDirectory: String?) {
        self.profilesDirectory = profilesDirectory
            ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
    }

    /// The spec of `fingerprint` (full, or its first hex digits), if the register holds it.
    func spec(_ fingerprint: String, on connection: PostgresConnection) throws -> IPCSpec? {
        if let known = parsed.withLock({ $0[fingerprint] }) { return known }
        let pattern = fingerprint.hasPrefix("sha256:") ? fingerprint : "sha256:" + fingerprint
        let stored = try connection.execute(
            "SELECT fingerprint, spec_text FROM released_specs WHERE fingerprint LIKE $1 || '%' ORDER BY fingerprint LIMIT 2", [pattern])
        guard stored.rowCount == 1, let full = stored.string(0, 0), let text = stored.string(0, 1) else { return nil }
        guard let spec = SpecLoader.parse(text, file: full, profiles: SpecLoader.profileCatalogue(directory: profilesDirectory)).spec else {
            return nil
        }
        parsed.withLock {
            $0[fingerprint] = spec
            $0[full] = spec
        }
        return spec
    }
}
