import ControlSiteQuality
import ControlSiteRecords
import Foundation
import Hashing
import TestSupport
import POCareConfig

/// The quality system's people for a test database: two QA reviewers (one to request, one to
/// approve), a QP and a viewer, all with `QualityDesk.password`; and the approved changes tests
/// need, made as QA makes them (requested by one person, approved by another).
extension IngestDatabase {
    static let qualityPassword = "correct horse battery"

    /// Adds quinn (QA), alex (QA), petra (QP), paula (a second QP) and vera (viewer) unless they exist.
    func addQualityUsers() throws {
        for (name, full, role) in [("quinn", "Quinn Assurance", WebUsers.Role.qa), ("alex", "Alex Approver", .qa),
                                   ("petra", "Dr Petra Qualified", .qp), ("paula", "Dr Paula Second", .qp), ("vera", "Vera Viewer", .viewer)]
        where try WebUsers.find(name, on: connection) == nil {
            try WebUsers.add(userName: name, fullName: full, role: role, password: Self.qualityPassword,
                             iterations: PasswordHash.minimumIterations, by: "test", on: connection)
        }
    }

    func user(_ name: String) throws -> WebUsers.User {
        guard let user = try WebUsers.find(name, on: connection) else { throw TestFailure("no user \(name)") }
        return user
    }

    /// Requests `content` as `requester` and has `approver` approve it.
    @discardableResult
    func approvedChange(_ content: ChangeContent, reason: String = "test", requester: String = "quinn", approver: String = "alex",
                        settings: QualitySettings = QualitySettings()) throws -> ChangeControl.Record {
        try addQualityUsers()
        let change = try ChangeControl.request(content, reason: reason, by: try user(requester), on: connection)
        return try ChangeControl.decide(change.id, .approve, shownHash: change.contentHash, comment: "", userName: approver,
                                        password: Self.qualityPassword, settings: settings, on: connection)
    }

    /// Releases the example spec through change control; returns its fingerprint.
    @discardableResult
    func releaseExampleSpec() throws -> String {
        let loaded = SpecLoader.load(path: exampleSpec, profiles: SpecLoader.profileCatalogue(directory: shippedProfiles))
        guard let spec = loaded.spec else { throw TestFailure("example spec: \(loaded.diagnostics)") }
        let text = try String(contentsOfFile: exampleSpec, encoding: .utf8)
        let id = spec.identity
        try approvedChange(.specRelease(.init(
            fingerprint: spec.fingerprint, product: id.product, document: id.documentId, version: id.version, approvedBy: id.approvedBy,
            approvalDate: id.approvalDate, profiles: id.profiles, specText: text)), reason: "CC-0042 approved")
        return spec.fingerprint
    }

    func registerSite(_ site: String, role: SiteRole, qualification: QualificationState = .inQualification, requiredBatches: Int? = nil) throws {
        try approvedChange(.siteRegister(.init(site: site, name: "Hospital \(site)", role: role, siteLead: "Dr Lead", qaContact: "QA Contact",
                                               requiredBatches: requiredBatches, qualification: qualification)))
    }

    func registerEquipment(_ site: String, _ device: String, profile: String) throws {
        guard let loaded = SpecLoader.profileCatalogue(directory: shippedProfiles)[profile] else { throw TestFailure("no profile \(profile)") }
        try approvedChange(.equipmentRegister(site: site, .init(device: device, profile: profile, profileFingerprint: ProfileFingerprint.of(loaded))))
    }
}

/// A command's stdin carrying a user's password.
func passwordInput() -> String { IngestDatabase.qualityPassword + "\n" }
