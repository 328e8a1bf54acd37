import ControlSiteRecords
import POCareContract
import Foundation
import POCareCore

/// Specs as the pages need them (`SpecLookup`): released ones for the register and the bands,
/// and what a batch ran (released, or as its site published it) for its statistics.
final class SpecCatalogue: Sendable {
    let lookup: SpecLookup

    init(profilesDirectory: String?) {
        lookup = SpecLookup(profilesDirectory: profilesDirectory)
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
