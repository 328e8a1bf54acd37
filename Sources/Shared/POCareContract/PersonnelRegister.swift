import Foundation
import Hashing
import POCareCore

/// The trained-personnel register of one site (contract v1, `pocare/v1/{site}/register/personnel`,
/// retained, from the Control Site to the site): who may operate and review there, with the
/// day their GxP training runs out. The Control Site publishes a new version whenever an
/// approved change alters the site's personnel; it names the change, the person who approved
/// it, and the SHA-256 of its canonical form, which the site recomputes before it keeps it.
/// Encoding and decoding live here together and depend only on Foundation, POCareCore and Hashing.
public struct PersonnelRegister: Sendable, Equatable {
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
    }

    public static let schema = "pocare/v1/register_personnel"

    public var site: String
    /// Counts up from 1 per site; a site keeps the highest it has seen.
    public var version: Int64
    /// When the Control Site issued it (UTC).
    public var issued: String
    public var trainingValidDays: Int
    /// By account.
    public var people: [Person]
    /// The approved change the version comes from (`CC-12`), its approver's user name and full name.
    public var change: String
    public var approvedBy: String
    public var approvedByName: String

    public init(site: String, version: Int64, issued: String, trainingValidDays: Int, people: [Person], change: String, approvedBy: String,
                approvedByName: String) {
        self.site = site
        self.version = version
        self.issued = issued
        self.trainingValidDays = trainingValidDays
        self.people = people.sorted { $0.account < $1.account }
        self.change = change
        self.approvedBy = approvedBy
        self.approvedByName = approvedByName
    }

    public static func topic(site: String, root: String = "pocare/v1") -> String { "\(root)/\(site)/register/personnel" }

    /// What the hash covers (`pocare-personnel-register/1`): the site, version, validity, every
    /// person, the change and its approver.
    public var canonicalText: String {
        CanonicalJSON.array([
            CanonicalJSON.string("pocare-personnel-register/1"), CanonicalJSON.string(site), String(version), String(trainingValidDays),
            CanonicalJSON.array(people.map { p in
                CanonicalJSON.array([p.account, p.person, p.role, p.trainingDate, p.trainingExpires].map(CanonicalJSON.string))
            }),
            CanonicalJSON.string(change), CanonicalJSON.string(approvedBy), CanonicalJSON.string(approvedByName),
        ])
    }

    public var registerHash: String { "sha256:" + SHA256.hex(canonicalText) }

    /// The person registered under `account`, if any.
    public func person(_ account: String) -> Person? { people.first { $0.account == account } }

    public func encode() -> [UInt8] {
        let people = self.people.map { p in
            CanonicalJSON.object([
                ("account", CanonicalJSON.string(p.account)), ("person", CanonicalJSON.string(p.person)), ("role", CanonicalJSON.string(p.role)),
                ("training_date", CanonicalJSON.string(p.trainingDate)), ("training_expires", CanonicalJSON.string(p.trainingExpires)),
            ])
        }
        return Array(CanonicalJSON.object([
            ("schema", CanonicalJSON.string(Self.schema)), ("site", CanonicalJSON.string(site)), ("version", String(version)),
            ("issued", CanonicalJSON.string(issued)), ("training_valid_days", String(trainingValidDays)),
            ("people", CanonicalJSON.array(people)), ("change", CanonicalJSON.string(change)),
            ("approved_by", CanonicalJSON.string(approvedBy)), ("approved_by_name", CanonicalJSON.string(approvedByName)),
            ("register_hash", CanonicalJSON.string(registerHash)),
        ]).utf8)
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads a published register; refuses one whose fields are missing or whose content does
    /// not hash to the `register_hash` it carries.
    public static func decode(_ bytes: [UInt8]) throws(Invalid) -> PersonnelRegister {
        guard bytes.count <= 4 << 20,
              let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        else { throw Invalid(description: "a personnel register is a JSON object of at most 4 MiB") }
        func string(_ o: [String: Any], _ key: String) throws(Invalid) -> String {
            guard let v = o[key] as? String, v.utf8.count <= 1024 else { throw Invalid(description: "\(key): expected text") }
            return v
        }
        func integer(_ key: String) throws(Invalid) -> Int64 {
            guard let n = object[key] as? NSNumber, n.doubleValue.isFinite, abs(n.doubleValue) < 9e15,
                  let v = Int64(exactly: n.doubleValue), v >= 0 else {
                throw Invalid(description: "\(key): expected a whole number")
            }
            return v
        }
        guard try string(object, "schema") == schema else { throw Invalid(description: "schema: expected \(schema)") }
        guard let list = object["people"] as? [[String: Any]] else { throw Invalid(description: "people: expected a list of objects") }
        var people: [Person] = []
        for entry in list {
            people.append(Person(account: try string(entry, "account"), person: try string(entry, "person"), role: try string(entry, "role"),
                                 trainingDate: try string(entry, "training_date"), trainingExpires: try string(entry, "training_expires")))
        }
        let days = try integer("training_valid_days")
        guard days <= 36500 else { throw Invalid(description: "training_valid_days: out of range") }
        let register = PersonnelRegister(
            site: try string(object, "site"), version: try integer("version"), issued: try string(object, "issued"),
            trainingValidDays: Int(days), people: people, change: try string(object, "change"),
            approvedBy: try string(object, "approved_by"), approvedByName: try string(object, "approved_by_name"))
        let stated = try string(object, "register_hash")
        guard stated == register.registerHash else {
            throw Invalid(description: "register_hash: the content hashes to \(register.registerHash), not \(stated)")
        }
        return register
    }
}
