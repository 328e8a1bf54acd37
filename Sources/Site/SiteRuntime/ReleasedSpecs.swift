import ControlSiteLink
import POCareContract
import Foundation
import POCareCore

/// The Control Site's register of released specs, as the site enforces it at the moment of
/// action: a batch starts only under a spec the register holds as released for the device's
/// equipment model. Pure: built from the latest register the site accepted (or none).
struct ReleasedSpecs {
    let register: ControlSiteRegister?
    /// By fingerprint; an entry the site cannot read is left out (and so is unknown).
    let entries: [String: ReleasedSpecEntry]

    init(_ register: ControlSiteRegister?) {
        self.register = register
        var entries: [String: ReleasedSpecEntry] = [:]
        for value in register?.entries ?? [] {
            guard let entry = ReleasedSpecEntry(value) else { continue }
            entries[entry.fingerprint] = entry
        }
        self.entries = entries
    }

    enum Standing: Equatable {
        case released(ReleasedSpecEntry)
        case unknown
        case retired(ReleasedSpecEntry)
        case otherModel(ReleasedSpecEntry)
        case noRegister

        var isReleased: Bool { if case .released = self { true } else { false } }

        /// The state in the words every refusal uses.
        var state: String {
            switch self {
            case .released: "released"
            case .unknown, .noRegister: "unknown"
            case .retired: "retired"
            case .otherModel: "released for another equipment model"
            }
        }
    }

    func standing(of fingerprint: String, profile: String) -> Standing {
        guard register != nil else { return .noRegister }
        guard let entry = entries[fingerprint] else { return .unknown }
        if entry.state == .retired { return .retired(entry) }
        return entry.profiles.contains(profile) ? .released(entry) : .otherModel(entry)
    }

    private var versionText: String { register.map { "register of released specs version \($0.version)" } ?? "" }

    /// Why a spec is, or is not, released for a profile, in one line: always says `released`
    /// or `not released`, the fingerprint and the state.
    func statement(fingerprint: String, profile: String) -> String {
        let standing = standing(of: fingerprint, profile: profile)
        switch standing {
        case .released(let entry):
            return "spec \(fingerprint) is released for \(profile): released by \(entry.releasedBy) on \(entry.releasedAt) (\(versionText))"
        case .noRegister:
            return "spec \(fingerprint) is not released for \(profile): state unknown: this site has never received the Control Site's register of released specs"
        case .unknown:
            return "spec \(fingerprint) is not released for \(profile): state unknown: the Control Site's \(versionText) does not hold it"
        case .retired(let entry):
            let when = entry.retiredAt.map { " on \($0)" } ?? ""
            let who = entry.retiredBy.map { " by \($0)" } ?? ""
            return "spec \(fingerprint) is not released for \(profile): state retired\(when)\(who) (\(entry.reason); \(versionText))"
        case .otherModel(let entry):
            return "spec \(fingerprint) is not released for \(profile): state released for another equipment model (\(entry.profiles.joined(separator: ", ")); \(versionText))"
        }
    }

    /// A released spec's text, by fingerprint: what a batch started by fingerprint alone runs.
    func source(of fingerprint: String) -> String? {
        entries[fingerprint].flatMap { $0.state == .released && !$0.source.isEmpty ? $0.source : nil }
    }
}

/// The body of the `spec_release` event recorded with every batch start (and `spec_retired`
/// when the register retires the spec of a running batch): what the batch record says about
/// the spec's release.
struct SpecReleaseEventBody: Codable, Sendable, Hashable {
    static let startKind = "spec_release"
    static let retiredKind = "spec_retired"

    var kind: String
    var device: String
    var time: String
    var batch: String
    var spec: String
    /// `released` or `not released`; for `spec_retired`, `retired`. (Named apart from the
    /// `state` of alarm events.)
    var release: String
    var detail: String
    var registerVersion: Int64?
    var registerHash: String?
    var releaseRequired: Bool?
    var retiredAt: String?
    var retiredBy: String?
    var reason: String?

    enum CodingKeys: String, CodingKey {
        case kind, device, time, batch, spec, release, detail, reason
        case registerVersion = "register_version"
        case registerHash = "register_hash"
        case releaseRequired = "release_required"
        case retiredAt = "retired_at"
        case retiredBy = "retired_by"
    }

    var storedText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a value of plain strings and numbers cannot fail; an empty object is never stored.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func stored(_ body: String) -> SpecReleaseEventBody? {
        // Nil for a body this version cannot read; a reader skips it.
        try? JSONDecoder().decode(SpecReleaseEventBody.self, from: Data(body.utf8))
    }
}
