import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareConfig

struct Sites: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The sites: their state at a glance, and the POC Master File (role, responsible persons, equipment, personnel, qualification).",
        discussion: """
            Every change to the Master File is a change request a second QA person approves (`changes approve`).
            Examples:
              pocare-control sites --config /etc/pocare/control.yaml
              pocare-control sites show site-b
              pocare-control sites register site-b --name "Hospital B" --role additional --site-lead "Dr B" --qa-contact "QA B" --reason "network expansion" --user jdoe
              pocare-control sites equipment add site-b str-1 --profile stirred-tank-str10 --serial SN-4471 --reason "IQ/OQ done" --user jdoe
              pocare-control sites personnel add site-b op7 --name "Olga Operator" --role operator --trained 2026-03-01 --reason "trained" --user jdoe
              pocare-control sites qualification site-b suspended --reason "DEV-14 under investigation" --user jdoe
            """,
        subcommands: [SitesList.self, Show.self, Register.self, Role.self, Qualify.self, Equipment.self, Personnel.self],
        defaultSubcommand: SitesList.self)

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A site's POC Master File: role, responsible persons, qualification, equipment, personnel, approved specs, open deviations.")
        @Argument(help: "The site.") var site: String
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let settings = try db.qualitySettings()
            let connection = try db.connect()
            guard let file = try SiteFile.load(site: site, settings: settings, on: connection) else {
                note("\(site) is not in the POC Master File")
                throw ExitStatus.failure
            }
            if json { return try emitJSON(file) }
            let r = file.record
            emit("site \(r.site): \(r.name), \(r.role == .reference ? "reference site" : "additional site")")
            emit("site lead \(r.siteLead); QA contact \(r.qaContact); registered \(r.registered); last change CC-\(r.changeId)")
            emit("qualification: \(file.qualification.display)")
            emit("")
            emitTable(["DEVICE", "MODEL", "PROFILE", "SERIAL", "FIRMWARE", "REGISTERED", "CHANGE", "REPORTED NOW"], file.equipment.map { e in
                [e.device, e.profile, short(e.profileFingerprint), e.serialNumber ?? "-", e.firmwareVersion ?? "-", e.registered,
                 "CC-\(e.registeredChange)", file.equipmentProblems[e.device] ?? "as registered"]
            })
            for n in file.nonconformingEquipment where !file.equipment.contains(where: { $0.device == n.device }) {
                emit("NONCONFORMANCE \(n.device): \(n.reason)")
            }
            emit("")
            emitTable(["ACCOUNT", "PERSON", "ROLE", "GXP TRAINING", "VALID THROUGH", "STATE"], file.personnel.map { p in
                [p.account, p.person, p.role.rawValue, p.trainingDate, p.trainingExpires(validDays: settings.trainingValidDays),
                 p.trainingExpired(validDays: settings.trainingValidDays) ? "EXPIRED" : "trained"]
            })
            emit("")
            emitTable(["MODEL", "APPROVED SPECS"], file.models.map { model in
                [model, (file.approvedSpecs[model] ?? []).map { "\(short($0.fingerprint)) \($0.document) \($0.version)" }.joined(separator: "; ")]
            })
            emit("")
            emitTable(["DEVIATION", "STATE", "CLASS", "OPENED", "TITLE"], file.openDeviations.map {
                [$0.reference, $0.stateWords, $0.classification ?? "-", $0.opened, $0.title]
            })
        }
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request a site's entry in the POC Master File.")
        @Argument(help: "The site id, as the site publishes it.") var site: String
        @Option(help: "The site's name.") var name: String
        @Option(help: "reference or additional.") var role: String
        @Option(help: "The site lead.") var siteLead: String
        @Option(help: "The site's QA contact.") var qaContact: String
        @Option(help: "Certified batches that qualify it (default: 3 for the reference site, 1 for an additional site).") var requiredBatches: Int?
        @Option(help: "in_qualification (default), not_qualified or qualified (a site qualified before this register existed).")
        var qualification = "in_qualification"
        @Option(help: "Why.") var reason: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let role = SiteRole(rawValue: role) else { throw ValidationError("--role: reference or additional") }
            guard let state = QualificationState(rawValue: qualification), state != .suspended else {
                throw ValidationError("--qualification: in_qualification, not_qualified or qualified")
            }
            try request(.siteRegister(.init(site: site, name: name, role: role, siteLead: siteLead, qaContact: qaContact,
                                            requiredBatches: requiredBatches, qualification: state)),
                        reason: reason, credentials, db, json: json)
        }
    }

    struct Role: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request a change of a site's role (and the batches that qualify it).")
        @Argument(help: "The site.") var site: String
        @Argument(help: "reference or additional.") var role: String
        @Option(help: "Certified batches that qualify it (default: 3 for the reference site, 1 for an additional site).") var requiredBatches: Int?
        @Option(help: "Why.") var reason: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let role = SiteRole(rawValue: role) else { throw ValidationError("role: reference or additional") }
            try request(.siteRole(site: site, role: role, requiredBatches: requiredBatches ?? role.defaultRequiredBatches), reason: reason,
                        credentials, db, json: json)
        }
    }

    struct Qualify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qualification",
            abstract: "Request a change of a site's qualification: suspended (with the reason), in_qualification, not_qualified, qualified.")
        @Argument(help: "The site.") var site: String
        @Argument(help: "suspended, in_qualification, not_qualified or qualified.") var state: String
        @Option(help: "Why.") var reason: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let state = QualificationState(rawValue: state) else {
                throw ValidationError("state: \(QualificationState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try request(.siteQualification(site: site, state: state), reason: reason, credentials, db, json: json)
        }
    }

    struct Equipment: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A site's registered equipment.", subcommands: [Add.self, Retire.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Request the registration of a device: its equipment model (profile id), the profile's fingerprint, serial number and firmware.")
            @Argument(help: "The site.") var site: String
            @Argument(help: "The device id, as the site names it.") var device: String
            @Option(help: "The equipment model: the device profile's id.") var profile: String
            @Option(help: "The profile's fingerprint (sha256:…); default: computed from the profile in --profiles.") var fingerprint: String?
            @Option(help: "Folder of device profiles (default: ./DeviceProfiles, else the installed ones).") var profiles: String?
            @Option(help: "The serial number the device reports.") var serial: String?
            @Option(help: "The firmware version the device reports.") var firmware: String?
            @Option(help: "Why (IQ/OQ, the change it rests on).") var reason: String
            @OptionGroup var credentials: CredentialOptions
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "Print JSON.") var json = false

            func run() throws {
                let print = try fingerprint ?? {
                    let folder = profiles ?? ["DeviceProfiles", "/usr/share/pocare/DeviceProfiles", "/usr/local/share/pocare/DeviceProfiles"]
                        .first { FileManager.default.fileExists(atPath: $0) } ?? "DeviceProfiles"
                    guard let found = SpecLoader.profileCatalogue(directory: folder)[profile] else {
                        throw ValidationError("--profile: no profile '\(profile)' in \(folder); give --fingerprint")
                    }
                    return ProfileFingerprint.of(found)
                }()
                try request(.equipmentRegister(site: site, .init(device: device, profile: profile, profileFingerprint: print, serialNumber: serial,
                                                                 firmwareVersion: firmware)),
                            reason: reason, credentials, db, json: json)
            }
        }

        struct Retire: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Request the retirement of a registered device.")
            @Argument(help: "The site.") var site: String
            @Argument(help: "The device id.") var device: String
            @Option(help: "Why.") var reason: String
            @OptionGroup var credentials: CredentialOptions
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "Print JSON.") var json = false

            func run() throws { try request(.equipmentRetire(site: site, device: device), reason: reason, credentials, db, json: json) }
        }
    }

    struct Personnel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A site's trained personnel (published to the site, which refuses operator actions by anyone else).",
            subcommands: [Add.self, Retire.self, Train.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Request the registration of a person at a site.")
            @Argument(help: "The site.") var site: String
            @Argument(help: "The person's account at the site.") var account: String
            @Option(help: "The person's full name.") var name: String
            @Option(help: "operator, reviewer or supervisor.") var role: String
            @Option(help: "The date of the last GxP training (YYYY-MM-DD).") var trained: String
            @Option(help: "Why.") var reason: String
            @OptionGroup var credentials: CredentialOptions
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "Print JSON.") var json = false

            func run() throws {
                guard let role = PersonnelRole(rawValue: role) else { throw ValidationError("--role: operator, reviewer or supervisor") }
                try request(.personnelRegister(site: site, .init(person: name, account: account, role: role, trainingDate: trained)),
                            reason: reason, credentials, db, json: json)
            }
        }

        struct Retire: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Request the removal of a person from a site's trained personnel.")
            @Argument(help: "The site.") var site: String
            @Argument(help: "The account.") var account: String
            @Option(help: "Why.") var reason: String
            @OptionGroup var credentials: CredentialOptions
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "Print JSON.") var json = false

            func run() throws { try request(.personnelRetire(site: site, account: account), reason: reason, credentials, db, json: json) }
        }

        struct Train: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Request the record of a person's GxP training refresh.")
            @Argument(help: "The site.") var site: String
            @Argument(help: "The account.") var account: String
            @Option(help: "The date of the training (YYYY-MM-DD).") var trained: String
            @Option(help: "Why (the training record).") var reason: String
            @OptionGroup var credentials: CredentialOptions
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "Print JSON.") var json = false

            func run() throws {
                try request(.personnelTraining(site: site, account: account, trainingDate: trained), reason: reason, credentials, db, json: json)
            }
        }
    }
}

/// Requests a change of the Master File as the signed-in user.
private func request(_ content: ChangeContent, reason: String, _ credentials: CredentialOptions, _ db: DatabaseOptions, json: Bool) throws {
    guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
    let connection = try db.connect()
    let actor = try credentials.actor(on: connection, action: "change.request", target: "\(content.kind) \(content.target)")
    let change = try quality { try ChangeControl.request(content, reason: reason, by: actor, on: connection) }
    try emitRequested(change, json: json)
}
