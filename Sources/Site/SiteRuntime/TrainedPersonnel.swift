import Foundation
import POCareContract
import POCareCore

/// Who may act at the site, as the Control Site's personnel register (kind `personnel`) says:
/// a person listed under their account whose GxP training has not run out. Pure: the daemon
/// asks it before an operator's state-changing command is audited and applied.
struct TrainedPersonnel {
    let register: ControlSiteRegister?
    let people: [PersonnelRegister.Person]

    init(_ register: ControlSiteRegister?) {
        self.register = register
        if let register, case .success(let people) = PersonnelRegister.people(of: register) { self.people = people } else { people = [] }
    }

    /// Why `account` may not act on `day` (UTC, YYYY-MM-DD), or nil when they may. A site that
    /// holds no personnel register checks nothing: the Control Site has not decided yet.
    func refusal(account: String, day: String) -> String? {
        guard let register else { return nil }
        let held = "the personnel register (version \(register.version), approved by \(register.signedBy.name))"
        guard let person = people.first(where: { $0.account == account }) else {
            return "'\(account)' is not in \(held); the Control Site's QA registers trained personnel"
        }
        // YYYY-MM-DD compares as text; the last day of the training still counts.
        guard day <= person.trainingExpires else {
            return "the GxP training of \(person.person) ('\(account)') expired on \(person.trainingExpires) per \(held)"
        }
        return nil
    }

    static func today(_ now: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: now)
    }
}
