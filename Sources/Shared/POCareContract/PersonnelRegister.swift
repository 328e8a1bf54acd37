import Foundation
import POCareCore

/// The trained-personnel register of one site: a `ControlSiteRegister` of kind `personnel`
/// (retained on `{root}/{site}/register/personnel`, from the Control Site to the site), one
/// entry per person who may operate and review there, with the day their GxP training runs
/// out. The Control Site makes a new version whenever an approved change alters the site's
/// personnel; the register's signature names the approver and the change, and its hash is the
/// register's like every other kind's. Entries are read and written here together; the
/// envelope, hash and version rules are `ControlSiteRegister`'s.
public enum PersonnelRegister {
    public static let kind = "personnel"

    public struct Person: Sendable, Equatable {
        /// The person's account at the site (the Unix user, or the `--user` name an operator gives).
        public var account: String
        public var person: String
        /// `operator`, `reviewer` or `supervisor`.
        public var role: String
        /// YYYY-MM-DD: the last GxP training, and the last day it counts.
        public var trainingDate: String
        public var trainingExpires: String

        public init(account: String, person: String, role: String, trainingDate: String, trainingExpires: String) {
            self.account = account
            self.person = person
            self.role = role
            self.trainingDate = trainingDate
            self.trainingExpires = trainingExpires
        }

        public var value: RegisterValue {
            .object([
                "account": .string(account), "person": .string(person), "role": .string(role),
                "training_date": .string(trainingDate), "training_expires": .string(trainingExpires),
            ])
        }

        /// Reads an entry; nil when a field is missing or of the wrong type.
        public init?(_ value: RegisterValue) {
            guard case .object(let f) = value, let account = f["account"]?.string, !account.isEmpty, let person = f["person"]?.string,
                  let role = f["role"]?.string, let date = f["training_date"]?.string, let expires = f["training_expires"]?.string
            else { return nil }
            self.init(account: account, person: person, role: role, trainingDate: date, trainingExpires: expires)
        }
    }

    /// A version of a site's register, signed by the approver of the change it comes from.
    public static func register(version: Int64, people: [Person], signedBy: ControlSiteRegister.Signature) -> ControlSiteRegister {
        ControlSiteRegister(kind: kind, version: version, signedBy: signedBy,
                            entries: people.sorted { $0.account < $1.account }.map(\.value))
    }

    /// The people of a personnel register; refuses a register of another kind or an entry it cannot read.
    public static func people(of register: ControlSiteRegister) -> Result<[Person], RegisterRefusal> {
        guard register.kind == kind else { return .failure(.init("a register of kind '\(register.kind)', not '\(kind)'")) }
        var people: [Person] = []
        for (i, entry) in register.entries.enumerated() {
            guard let person = Person(entry) else {
                return .failure(.init("entry \(i + 1): a person needs account, person, role, training_date and training_expires as text"))
            }
            people.append(person)
        }
        return .success(people)
    }
}
