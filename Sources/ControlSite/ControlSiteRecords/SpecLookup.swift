import Foundation
import POCareConfig
import POCareCore
import Synchronization

/// The specs batches ran under, as the Control Site can read them: from QA's register (the
/// stored text read with the site's own loader and the device profiles), and for a spec the
/// register does not hold, from the canonical form a site published under that fingerprint,
/// where it hashes to it. A spec never changes under its fingerprint, so each is read once.
public final class SpecLookup: Sendable {
    private let profilesDirectory: String
    private let released = Mutex<[String: IPCSpec]>([:])
    private let published = Mutex<[String: IPCSpec]>([:])

    public init(profilesDirectory: String?) {
        self.profilesDirectory = profilesDirectory
            ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
    }

    /// The released spec of `fingerprint` (full, or its first hex digits), if the register holds it.
    public func released(_ fingerprint: String, on connection: PostgresConnection) throws -> IPCSpec? {
        if let known = released.withLock({ $0[fingerprint] }) { return known }
        let pattern = fingerprint.hasPrefix("sha256:") ? fingerprint : "sha256:" + fingerprint
        let stored = try connection.execute(
            "SELECT fingerprint, spec_text FROM released_specs WHERE fingerprint LIKE $1 || '%' ORDER BY fingerprint LIMIT 2", [pattern])
        guard stored.rowCount == 1, let full = stored.string(0, "fingerprint"), let text = stored.string(0, "spec_text") else { return nil }
        guard let spec = SpecLoader.parse(text, file: full, profiles: SpecLoader.profileCatalogue(directory: profilesDirectory)).spec else {
            return nil
        }
        released.withLock {
            $0[fingerprint] = spec
            $0[full] = spec
        }
        return spec
    }

    /// The spec a batch ran under (full fingerprint): released, or else as a site published it.
    public func ran(_ fingerprint: String, on connection: PostgresConnection) throws -> IPCSpec? {
        if let spec = try released(fingerprint, on: connection) { return spec }
        if let known = published.withLock({ $0[fingerprint] }) { return known }
        let stored = try connection.execute("""
            SELECT document->>'canonical' AS canonical FROM published_specs
            WHERE fingerprint = $1 AND verified AND computed = $1 ORDER BY received DESC LIMIT 1
            """, [fingerprint])
        guard let canonical = stored.string(0, "canonical"), let spec = SpecCanonicalForm.parse(canonical, fingerprint: fingerprint) else { return nil }
        published.withLock { $0[fingerprint] = spec }
        return spec
    }
}
