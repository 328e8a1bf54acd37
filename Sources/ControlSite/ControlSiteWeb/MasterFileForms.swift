import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareConfig
import POCareCore

/// A change request posted from a page: the form's `kind` and its fields, read into the
/// change it proposes. Bad or missing fields are refused with the field named.
enum MasterFileForms {
    static func content(_ form: FormFields, profiles: [String: DeviceProfile]) throws -> ChangeContent {
        func field(_ name: String) throws(QualityRefusal) -> String {
            guard let value = form[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                throw QualityRefusal(.invalidInput, "\(name.replacingOccurrences(of: "_", with: " ")) is required")
            }
            guard value.count <= 200_000 else { throw QualityRefusal(.invalidInput, "\(name) is too long") }
            return value
        }
        func optional(_ name: String) -> String? {
            form[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        func number(_ name: String) throws(QualityRefusal) -> Int? {
            guard let text = optional(name) else { return nil }
            guard let n = Int(text) else { throw QualityRefusal(.invalidInput, "\(name.replacingOccurrences(of: "_", with: " ")): a whole number") }
            return n
        }
        func role() throws(QualityRefusal) -> SiteRole {
            guard let role = SiteRole(rawValue: try field("role")) else { throw QualityRefusal(.invalidInput, "role: reference or additional") }
            return role
        }
        switch try field("kind") {
        case "site.register":
            guard let state = QualificationState(rawValue: optional("qualification") ?? "in_qualification"), state != .suspended else {
                throw QualityRefusal(.invalidInput, "qualification: in_qualification, not_qualified or qualified")
            }
            return .siteRegister(.init(site: try field("site"), name: try field("name"), role: try role(), siteLead: try field("site_lead"),
                                       qaContact: try field("qa_contact"), requiredBatches: try number("required_batches"), qualification: state))
        case "site.role":
            let role = try role()
            return .siteRole(site: try field("site"), role: role, requiredBatches: try number("required_batches") ?? role.defaultRequiredBatches)
        case "site.qualification":
            guard let state = QualificationState(rawValue: try field("state")) else {
                throw QualityRefusal(.invalidInput, "state: \(QualificationState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return .siteQualification(site: try field("site"), state: state)
        case "equipment.register":
            let profile = try field("profile")
            var fingerprint = optional("fingerprint")
            if fingerprint == nil {
                guard let found = profiles[profile] else {
                    throw QualityRefusal(.invalidInput, "profile: no device profile '\(profile.prefix(64))' here; give its fingerprint")
                }
                fingerprint = ProfileFingerprint.of(found)
            }
            return .equipmentRegister(site: try field("site"), .init(device: try field("device"), profile: profile, profileFingerprint: fingerprint ?? "",
                                                                     serialNumber: optional("serial"), firmwareVersion: optional("firmware")))
        case "equipment.retire":
            return .equipmentRetire(site: try field("site"), device: try field("device"))
        case "personnel.register":
            guard let role = PersonnelRole(rawValue: try field("person_role")) else {
                throw QualityRefusal(.invalidInput, "role: operator, reviewer or supervisor")
            }
            return .personnelRegister(site: try field("site"), .init(person: try field("person"), account: try field("account"), role: role,
                                                                     trainingDate: try field("training_date")))
        case "personnel.retire":
            return .personnelRetire(site: try field("site"), account: try field("account"))
        case "personnel.training":
            return .personnelTraining(site: try field("site"), account: try field("account"), trainingDate: try field("training_date"))
        case "spec.release":
            let text = try field("spec_text")
            let parsed = SpecLoader.parse(text, file: "the posted spec", profiles: profiles)
            guard let spec = parsed.spec else {
                throw QualityRefusal(.invalidInput, parsed.diagnostics.prefix(5).map(\.description).joined(separator: "; "))
            }
            let id = spec.identity
            return .specRelease(.init(fingerprint: spec.fingerprint, product: id.product, document: id.documentId, version: id.version,
                                      approvedBy: id.approvedBy, approvalDate: id.approvalDate, profiles: id.profiles, specText: text))
        case "spec.retire":
            return .specRetire(fingerprint: try field("fingerprint"))
        case let other:
            throw QualityRefusal(.invalidInput, "kind: no change of kind '\(other.prefix(40))'")
        }
    }
}
