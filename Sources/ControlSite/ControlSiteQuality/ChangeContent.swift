import Foundation

/// What a change record changes: each kind with its content, as stored in `changes.payload`.
/// Nothing here touches the database; `ChangeApplication` makes an approved change effective.
public enum ChangeContent: Sendable, Equatable {
    public struct SpecRelease: Sendable, Codable, Equatable {
        public var fingerprint: String
        public var product: String
        public var document: String
        public var version: String
        public var approvedBy: String
        public var approvalDate: String
        /// The equipment models (profile ids) the spec is written for.
        public var profiles: [String]
        public var specText: String
        public init(fingerprint: String, product: String, document: String, version: String, approvedBy: String, approvalDate: String,
                    profiles: [String], specText: String) {
            self.fingerprint = fingerprint
            self.product = product
            self.document = document
            self.version = version
            self.approvedBy = approvedBy
            self.approvalDate = approvalDate
            self.profiles = profiles
            self.specText = specText
        }
    }

    public struct SiteRegistration: Sendable, Codable, Equatable {
        public var site: String
        public var name: String
        public var role: SiteRole
        public var siteLead: String
        public var qaContact: String
        public var requiredBatches: Int
        public var qualification: QualificationState
        public init(site: String, name: String, role: SiteRole, siteLead: String, qaContact: String, requiredBatches: Int? = nil,
                    qualification: QualificationState = .inQualification) {
            self.site = site
            self.name = name
            self.role = role
            self.siteLead = siteLead
            self.qaContact = qaContact
            self.requiredBatches = requiredBatches ?? role.defaultRequiredBatches
            self.qualification = qualification
        }
    }

    public struct Equipment: Sendable, Codable, Equatable {
        public var device: String
        public var profile: String
        public var profileFingerprint: String
        public var serialNumber: String?
        public var firmwareVersion: String?
        public init(device: String, profile: String, profileFingerprint: String, serialNumber: String? = nil, firmwareVersion: String? = nil) {
            self.device = device
            self.profile = profile
            self.profileFingerprint = profileFingerprint
            self.serialNumber = serialNumber
            self.firmwareVersion = firmwareVersion
        }
    }

    public struct Person: Sendable, Codable, Equatable {
        public var person: String
        public var account: String
        public var role: PersonnelRole
        /// The date of the last GxP training, YYYY-MM-DD.
        public var trainingDate: String
        public init(person: String, account: String, role: PersonnelRole, trainingDate: String) {
            self.person = person
            self.account = account
            self.role = role
            self.trainingDate = trainingDate
        }
    }

    case specRelease(SpecRelease)
    case specRetire(fingerprint: String)
    case siteRegister(SiteRegistration)
    case siteRole(site: String, role: SiteRole, requiredBatches: Int)
    case siteQualification(site: String, state: QualificationState)
    case equipmentRegister(site: String, Equipment)
    case equipmentRetire(site: String, device: String)
    case personnelRegister(site: String, Person)
    case personnelRetire(site: String, account: String)
    case personnelTraining(site: String, account: String, trainingDate: String)

    public var kind: String {
        switch self {
        case .specRelease: "spec.release"
        case .specRetire: "spec.retire"
        case .siteRegister: "site.register"
        case .siteRole: "site.role"
        case .siteQualification: "site.qualification"
        case .equipmentRegister: "equipment.register"
        case .equipmentRetire: "equipment.retire"
        case .personnelRegister: "personnel.register"
        case .personnelRetire: "personnel.retire"
        case .personnelTraining: "personnel.training"
        }
    }

    public static let kinds = ["spec.release", "spec.retire", "site.register", "site.role", "site.qualification", "equipment.register",
                               "equipment.retire", "personnel.register", "personnel.retire", "personnel.training"]

    /// The site the change concerns; nil for the spec register, which every site shares.
    public var site: String? {
        switch self {
        case .specRelease, .specRetire: nil
        case .siteRegister(let r): r.site
        case .siteRole(let site, _, _), .siteQualification(let site, _), .equipmentRegister(let site, _), .equipmentRetire(let site, _),
             .personnelRegister(let site, _), .personnelRetire(let site, _), .personnelTraining(let site, _, _): site
        }
    }

    /// The thing that changes, unique among open changes of one kind and site.
    public var target: String {
        switch self {
        case .specRelease(let s): s.fingerprint
        case .specRetire(let fingerprint): fingerprint
        case .siteRegister(let r): r.site
        case .siteRole(let site, _, _), .siteQualification(let site, _): site
        case .equipmentRegister(_, let e): e.device
        case .equipmentRetire(_, let device): device
        case .personnelRegister(_, let p): p.account
        case .personnelRetire(_, let account), .personnelTraining(_, let account, _): account
        }
    }

    /// What changes, in words, as the approver reads it.
    public var summary: String {
        switch self {
        case .specRelease(let s): "release spec \(s.document) version \(s.version) (\(s.fingerprint)) for \(s.profiles.joined(separator: ", "))"
        case .specRetire(let fingerprint): "retire spec \(fingerprint)"
        case .siteRegister(let r):
            "register site \(r.site) (\(r.name)) as \(r.role == .reference ? "the reference site" : "an additional site"), "
                + "site lead \(r.siteLead), QA contact \(r.qaContact), \(r.qualification.words), \(r.requiredBatches) qualification batches"
        case .siteRole(let site, let role, let n): "make \(site) \(role == .reference ? "the reference site" : "an additional site") (\(n) qualification batches)"
        case .siteQualification(let site, let state): "set the qualification of \(site) to \(state.words)"
        case .equipmentRegister(let site, let e):
            "register \(e.device) at \(site): \(e.profile), profile \(e.profileFingerprint)"
                + (e.serialNumber.map { ", serial \($0)" } ?? "") + (e.firmwareVersion.map { ", firmware \($0)" } ?? "")
        case .equipmentRetire(let site, let device): "retire \(device) at \(site)"
        case .personnelRegister(let site, let p): "register \(p.person) (account \(p.account)) at \(site) as \(p.role.rawValue), GxP training \(p.trainingDate)"
        case .personnelRetire(let site, let account): "remove account \(account) from the trained personnel of \(site)"
        case .personnelTraining(let site, let account, let date): "record GxP training of \(account) at \(site) on \(date)"
        }
    }

    /// The content as stored (JSON; the database keeps it as jsonb).
    public func payload() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data: Data = switch self {
        case .specRelease(let s): try encoder.encode(s)
        case .specRetire(let fingerprint): try encoder.encode(["fingerprint": fingerprint])
        case .siteRegister(let r): try encoder.encode(r)
        case .siteRole(let site, let role, let n): try encoder.encode(RolePayload(site: site, role: role, requiredBatches: n))
        case .siteQualification(let site, let state): try encoder.encode(QualificationPayload(site: site, state: state))
        case .equipmentRegister(let site, let e): try encoder.encode(Sited(site: site, content: e))
        case .equipmentRetire(let site, let device): try encoder.encode(["site": site, "device": device])
        case .personnelRegister(let site, let p): try encoder.encode(Sited(site: site, content: p))
        case .personnelRetire(let site, let account): try encoder.encode(["site": site, "account": account])
        case .personnelTraining(let site, let account, let date): try encoder.encode(["site": site, "account": account, "training_date": date])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads a stored change back.
    public static func decode(kind: String, payload: String) throws -> ChangeContent {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let data = Data(payload.utf8)
        func fields() throws -> [String: String] { try decoder.decode([String: String].self, from: data) }
        func field(_ f: [String: String], _ key: String) throws -> String {
            guard let v = f[key] else { throw QualityRefusal(.invalidInput, "change content lacks \(key)") }
            return v
        }
        switch kind {
        case "spec.release": return .specRelease(try decoder.decode(SpecRelease.self, from: data))
        case "spec.retire": return .specRetire(fingerprint: try field(try fields(), "fingerprint"))
        case "site.register": return .siteRegister(try decoder.decode(SiteRegistration.self, from: data))
        case "site.role":
            let p = try decoder.decode(RolePayload.self, from: data)
            return .siteRole(site: p.site, role: p.role, requiredBatches: p.requiredBatches)
        case "site.qualification":
            let p = try decoder.decode(QualificationPayload.self, from: data)
            return .siteQualification(site: p.site, state: p.state)
        case "equipment.register":
            let p = try decoder.decode(Sited<Equipment>.self, from: data)
            return .equipmentRegister(site: p.site, p.content)
        case "equipment.retire":
            let f = try fields()
            return .equipmentRetire(site: try field(f, "site"), device: try field(f, "device"))
        case "personnel.register":
            let p = try decoder.decode(Sited<Person>.self, from: data)
            return .personnelRegister(site: p.site, p.content)
        case "personnel.retire":
            let f = try fields()
            return .personnelRetire(site: try field(f, "site"), account: try field(f, "account"))
        case "personnel.training":
            // Decoded with convertFromSnakeCase: the key reads as written.
            let f = try JSONDecoder().decode([String: String].self, from: data)
            return .personnelTraining(site: try field(f, "site"), account: try field(f, "account"), trainingDate: try field(f, "training_date"))
        default:
            throw QualityRefusal(.invalidInput, "unknown change kind \(kind)")
        }
    }

    struct RolePayload: Codable {
        var site: String
        var role: SiteRole
        var requiredBatches: Int
    }

    struct QualificationPayload: Codable {
        var site: String
        var state: QualificationState
    }

    /// A site's record content, flattened beside the site (`{"site": …, "device": …}`).
    struct Sited<Content: Codable>: Codable {
        var site: String
        var content: Content
        init(site: String, content: Content) {
            self.site = site
            self.content = content
        }
        enum Keys: String, CodingKey { case site }
        init(from decoder: Decoder) throws {
            site = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .site)
            content = try Content(from: decoder)
        }
        func encode(to encoder: Encoder) throws {
            try content.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(site, forKey: .site)
        }
    }
}

/// A site's role in the network.
public enum SiteRole: String, Sendable, Codable, CaseIterable {
    /// Qualified by technology transfer with verification batches; every other site is compared with it.
    case reference
    /// Qualified by comparability batches compared with the reference site.
    case additional

    /// The seed's tech-transfer rule: 3 verification batches for the reference, 1 for an additional site.
    public var defaultRequiredBatches: Int { self == .reference ? 3 : 1 }
}

/// A site's qualification as QA and the evidence left it (the stored state; "check due" is
/// read from the clock, `Qualification.Status`).
public enum QualificationState: String, Sendable, Codable, CaseIterable {
    case notQualified = "not_qualified"
    case inQualification = "in_qualification"
    case qualified
    case suspended

    public var words: String {
        switch self {
        case .notQualified: "not qualified"
        case .inQualification: "in qualification"
        case .qualified: "qualified"
        case .suspended: "suspended"
        }
    }
}

/// What a registered person may do at a site.
public enum PersonnelRole: String, Sendable, Codable, CaseIterable {
    /// Runs batches and answers alarms.
    case `operator`
    /// Reviews batch records at the site.
    case reviewer
    /// Both.
    case supervisor
}
