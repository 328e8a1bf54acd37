import ControlSiteRecords
import Foundation
import POCareContract

/// The registers sites enforce come only from approved changes. The released-spec register
/// follows `released_specs`, which only approvals write (`RegisterVersions.currentSpecRegister`,
/// signed by the approver); each approved change that alters a site's trained personnel writes
/// the site's next personnel register version in its own transaction, signed by the approver
/// and naming the change. `pocare-control run` publishes both (`RegisterPublisher`).
enum RegisterChanges {
    static func changed(by content: ChangeContent, change: ChangeControl.Record, approver: WebUsers.User, settings: QualitySettings,
                        on connection: PostgresConnection) throws {
        switch content {
        case .personnelRegister(let site, _), .personnelRetire(let site, _), .personnelTraining(let site, _, _):
            try writePersonnel(site: site, change: change, approver: approver, settings: settings, on: connection)
        default:
            break
        }
    }

    /// The site's personnel register as it stands in the Master File, as the next version.
    static func writePersonnel(site: String, change: ChangeControl.Record, approver: WebUsers.User, settings: QualitySettings,
                               on connection: PostgresConnection) throws {
        let version = try RegisterVersions.nextVersion(kind: PersonnelRegister.kind, site: site, on: connection)
        let people = try MasterFile.personnel(site: site, on: connection).map { p in
            PersonnelRegister.Person(account: p.account, person: p.person, role: p.role.rawValue, trainingDate: p.trainingDate,
                                     trainingExpires: p.trainingExpires(validDays: settings.trainingValidDays))
        }
        let signed = try connection.execute("SELECT \(Times.iso("now()")) AS now_utc").string(0, "now_utc") ?? ""
        let signature = ControlSiteRegister.Signature(
            name: approver.fullName, user: approver.userName, time: signed, meaning: "\(change.reference) approved: \(change.reason)")
        try RegisterVersions.append(PersonnelRegister.register(version: version, people: people, signedBy: signature), site: site,
                                    change: change.id, on: connection)
    }
}
